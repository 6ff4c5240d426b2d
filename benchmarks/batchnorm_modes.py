"""Do a trained model's BatchNorm moving statistics describe its features? (issue #17, part 3)

For each run: pooled PR-AUC on its validation split's tiles that hold lesions (the run's own
data settings), predicted in
inference mode (BatchNorm moving statistics, as evaluation and deployment use) and in
training mode (each batch's own statistics; dropout and stochastic depth active too). A model
whose training-mode score is far above its inference-mode score has moving statistics that lag
its weights (short from-scratch trainings of deep BatchNorm encoders). Side by side in one run.

With ``--reestimate N ...`` also the inference-mode score after re-estimating the statistics
over N training tiles (``train.precise_bn``; how many tiles are enough), with its time.

    python -m benchmarks.batchnorm_modes runs/ablation/unet_effb0_s0 runs/ablation/base_s0
    python -m benchmarks.batchnorm_modes runs/ablation/unet_effb0_s0 --reestimate 48 96 240 435
    python -m benchmarks.batchnorm_modes --smoke          # tiny, synthetic, untrained (CI)
"""

from __future__ import annotations

import argparse

import numpy as np


def lesion_tiles(pairs, tile_size, limit):
    """``(x (N,h,w,3) float32, y (N,h,w,1))``: the first ``limit`` tiles of ``pairs`` that hold lesion pixels."""
    from hecl_keras.data import tile_pairs

    x, y = tile_pairs(pairs, tuple(tile_size))
    keep = y.reshape(len(y), -1).max(1) > 0
    return x[keep][:limit], y[keep][:limit]


def tile_pr_auc(model, x, y, training, batch_size=6):
    """Pooled PR-AUC of ``model``'s probabilities on tiles, called with ``training``."""
    import keras

    from hecl_keras.metrics.pixel_curves import PooledCurves

    curves = PooledCurves()
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size], training=training)  # in training mode a Segmenter returns its dict
        logits = out["logits"] if isinstance(out, dict) else out
        curves.update(keras.ops.convert_to_numpy(keras.ops.sigmoid(logits))[..., 0], y[i:i + batch_size, ..., 0] > 0)
    return curves.pr_auc()


def compare(load, x, y, train_pairs=None, counts=(), tile_size=None, batch_size=6):
    """``{"inference", "training", "reestimated": {N: (PR-AUC, seconds)}}`` of the model ``load()`` gives.

    Training mode also moves the moving statistics of the in-memory model (not saved), so inference
    mode is measured first, and every re-estimation starts from a fresh ``load()``.
    """
    import time

    from hecl_keras.training.precise_batch_norm import reestimate_batch_norm, training_tiles

    model = load()
    row = {"inference": tile_pr_auc(model, x, y, False), "training": tile_pr_auc(model, x, y, True),
           "reestimated": {}}
    for count in counts:
        model, tiles = load(), training_tiles(train_pairs, tile_size, count)
        start = time.perf_counter()
        reestimate_batch_norm(model, tiles, batch_size)
        row["reestimated"][count] = (tile_pr_auc(model, x, y, False), time.perf_counter() - start)
    return row


def print_table(rows, tiles, counts=()):
    print(f"\n{tiles} validation tiles with lesions\n")
    extra = "".join(f" re-estimated over {n} training tiles (s) |" for n in counts)
    print("| model | tile PR-AUC, inference mode (moving statistics) | training mode (batch statistics) | ratio |"
          + extra)
    print("|---|---|---|---|" + "---|" * len(counts))
    for name, row in rows:
        cells = "".join(f" {row['reestimated'][n][0]:.4f} ({row['reestimated'][n][1]:.0f}) |" for n in counts)
        print(f"| {name} | {row['inference']:.4f} | {row['training']:.4f} | "
              f"{row['training'] / max(row['inference'], 1e-9):.2f}x |" + cells)


def _smoke():
    import keras

    from hecl_keras.data import synthetic_pairs
    from hecl_keras.models import Segmenter, get_backbone

    pairs = synthetic_pairs(2, 96, 96, seed=0, lesion_free_prob=0.0)
    x, y = lesion_tiles(pairs, (32, 32), 6)
    def load():  # the same untrained weights every time
        keras.utils.set_random_seed(0)
        return Segmenter(get_backbone("unet", base_filters=4, depth=3))

    row = compare(load, x, np.asarray(y), pairs, (4,), (32, 32))
    return [("untrained (smoke)", row)], x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help="run folders (their config.yaml and model.keras)")
    parser.add_argument("--tiles", type=int, default=36, help="validation tiles with lesions to score")
    parser.add_argument("--reestimate", type=int, nargs="*", default=[], metavar="N",
                        help="also score after re-estimating the statistics over N training tiles")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        rows, x = _smoke()
        print_table(rows, len(x), (4,))
    else:
        if not args.runs:
            parser.error("give run folders (or --smoke)")
        from pathlib import Path

        from hecl_keras.config import load_config
        from hecl_keras.data.experiment import load_experiment_data
        from hecl_keras.saving import load_model

        rows = []
        for run in args.runs:  # each run's own data settings (data.normalize changes the inputs)
            config = load_config(Path(run) / "config.yaml")
            data = load_experiment_data(config.data)
            x, y = lesion_tiles(data.val, config.augment.crop_size, args.tiles)
            load = lambda run=run: load_model(Path(run) / "model.keras")  # noqa: E731
            rows.append((Path(run).name, compare(load, x, y, data.train, args.reestimate, config.augment.crop_size)))
        print_table(rows, len(x), args.reestimate)


if __name__ == "__main__":
    main()
