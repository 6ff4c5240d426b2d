"""How often are L_pd and L_de active (non-zero) on real training batches? (METHOD.md section 3.7)

Draws augmented training batches exactly as training does (tf.data pipeline, random
rotation/flip/crop) and evaluates the real loss functions on random non-negative features:
a term is inactive when the batch lacks what it contrasts (no dense patch for L_pd; fewer
than two images with lesion contours for L_de), whatever the features are.

    python -m benchmarks.contrastive_activity --data ../shared/data/IDRiD --crop 512 --batches 200
    python -m benchmarks.contrastive_activity --smoke
"""

import argparse

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/IDRiD")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--grids", type=int, nargs="+", default=[5])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.3])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    import keras

    from hecl_keras.data import (
        ArrayCache,
        AugmentConfig,
        PreprocessConfig,
        load_pair,
        load_splits,
        synthetic_pairs,
        tf_training_dataset,
        validation_split,
    )
    from hecl_keras.losses import edge_contrast_loss, patch_density_loss, patch_vectors

    if args.smoke:
        pairs, args.crop, args.batches, source = synthetic_pairs(6, 96, 96), 64, 3, "synthetic"
    else:
        splits = load_splits(args.data)
        train_ids, _ = validation_split([s.id for s in splits["train"]], 6, 0)
        cache = ArrayCache()
        pairs = [load_pair(s, PreprocessConfig(), cache) for s in splits["train"] if s.id in train_ids]
        source = f"IDRiD, {len(pairs)} training images (validation split excluded), authors' scale"
    ds = tf_training_dataset(pairs, args.batch, AugmentConfig(crop_size=(args.crop, args.crop)), repeats=1000, seed=1)
    rng = np.random.default_rng(0)
    masks = []
    for _, y in ds.take(args.batches):
        masks.append(y.numpy())
    print(f"\n{source}; {len(masks)} batches of {args.batch} random {args.crop}x{args.crop} crops "
          f"(rotation, flip, crop as in training)\n")
    print("| grid | threshold | dense patches / batch | batches with L_pd > 0 | batches with L_de > 0 |")
    print("|---|---|---|---|---|")
    for grid in args.grids:
        for threshold in args.thresholds:
            pd_on = de_on = dense_total = 0
            for y in masks:
                f = np.maximum(rng.standard_normal(y.shape[:3] + (4,)), 0).astype("float32")
                dense = patch_vectors(f, y, grid, threshold)[2]  # the loss's own dense/sparse decision
                dense_total += int(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.cast(dense, "int32"))))
                pd_on += float(keras.ops.convert_to_numpy(patch_density_loss(f, y, grid, threshold))) > 0
                de_on += float(keras.ops.convert_to_numpy(edge_contrast_loss(f, y, grid, threshold))) > 0
            n = len(masks)
            print(f"| {grid} | {threshold} | {dense_total / n:.2f} | {pd_on / n:.0%} | {de_on / n:.0%} |")


if __name__ == "__main__":
    main()
