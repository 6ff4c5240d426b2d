"""Do a trained model's BatchNorm moving statistics describe its features? (issue #17, part 3)

For each run: pooled PR-AUC on its validation split's tiles that hold lesions (the run's own
data settings), predicted in
inference mode (BatchNorm moving statistics, as evaluation and deployment use) and in
training mode (each batch's own statistics; dropout and stochastic depth active too). A model
whose training-mode score is far above its inference-mode score has moving statistics that lag
its weights (short from-scratch trainings of deep BatchNorm encoders). Side by side in one run.

    python -m benchmarks.batchnorm_modes runs/ablation/unet_effb0_s0 runs/ablation/base_s0
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


def compare(models, x, y):
    """Rows ``(name, inference-mode PR-AUC, training-mode PR-AUC)``. Training mode also moves the moving
    statistics of the in-memory model (not saved), so inference mode is measured first."""
    return [(name, tile_pr_auc(m, x, y, False), tile_pr_auc(m, x, y, True)) for name, m in models]


def print_table(rows, tiles):
    print(f"\n{tiles} validation tiles with lesions\n")
    print("| model | tile PR-AUC, inference mode (moving statistics) | training mode (batch statistics) | ratio |")
    print("|---|---|---|---|")
    for name, inference, training in rows:
        print(f"| {name} | {inference:.4f} | {training:.4f} | {training / max(inference, 1e-9):.2f}x |")


def _smoke():
    from hecl_keras.data import synthetic_pairs
    from hecl_keras.models import Segmenter, get_backbone

    model = Segmenter(get_backbone("unet", base_filters=4, depth=3))
    x, y = lesion_tiles(synthetic_pairs(2, 96, 96, seed=0, lesion_free_prob=0.0), (32, 32), 6)
    return [("untrained (smoke)", model)], x, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help="run folders (their config.yaml and model.keras)")
    parser.add_argument("--tiles", type=int, default=36, help="validation tiles with lesions to score")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        models, x, y = _smoke()
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
            x, y = lesion_tiles(load_experiment_data(config.data).val, config.augment.crop_size, args.tiles)
            rows += compare([(Path(run).name, load_model(Path(run) / "model.keras"))], x, y)
        print_table(rows, len(x))
        return
    print_table(compare(models, x, np.asarray(y)), len(x))


if __name__ == "__main__":
    main()
