"""What ``train.precise_bn`` costs per epoch: one re-estimation against the epoch's training steps (issue #12).

For each model (the CPU config, with ``--set``-style overrides per model), in one process and
interleaved so that a loaded machine slows both alike: seconds per training step (compiled, as
``fit`` runs it; synthetic crops of the config's size and batch) and seconds per re-estimation
over ``train.precise_bn_tiles`` tiles (the compiled training-mode forward
:class:`~hecl_keras.training.precise_batch_norm.PreciseBatchNorm` uses). The overhead is one
re-estimation per epoch (validation every epoch) over the epoch's steps,
``ceil(train images x train.repeats / batch)``; the first call of each is a warm-up, not timed.

    python -m benchmarks.precise_bn_cost                       # UNet++ 16.. and U-Net + EfficientNetB0
    python -m benchmarks.precise_bn_cost --repeats 5 --train-images 48
    python -m benchmarks.precise_bn_cost --smoke               # a tiny UNet++, 32x32 (CI)
"""

from __future__ import annotations

import argparse
import math
import time

MODELS = {
    "UNet++ 16..": [],
    "U-Net + EfficientNetB0": ["model.backbone=unet", "model.encoder=efficientnetb0"],
}


def measure(config, repeats, steps):
    """``(seconds per training step, seconds per re-estimation)``, medians over ``repeats`` rounds."""
    import keras
    import numpy as np

    from hecl_keras.data import synthetic_crops
    from hecl_keras.models.build import build_compiled_model
    from hecl_keras.training.precise_batch_norm import reestimate_batch_norm, training_forward

    h, w = config.augment.crop_size
    batch, tiles = config.train.batch_size, config.train.precise_bn_tiles
    x, y = synthetic_crops(batch + tiles, h, w)
    keras.utils.set_random_seed(0)
    model = build_compiled_model(config)
    forward = training_forward(model)
    model.train_on_batch(x[:batch], y[:batch])  # warm-up: traces the training step
    reestimate_batch_norm(model, x[:tiles], batch, forward)  # and the forward pass
    step_times, pass_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x[:batch], y[:batch])
        step_times.append((time.perf_counter() - start) / steps)
        start = time.perf_counter()
        reestimate_batch_norm(model, x[:tiles], batch, forward)
        pass_times.append(time.perf_counter() - start)
    return float(np.median(step_times)), float(np.median(pass_times))


def rows(configs, repeats, steps, train_images):
    """One row per model: ``(name, tiles, s/step, s/re-estimation, steps/epoch, overhead fraction)``."""
    out = []
    for name, config in configs.items():
        step, reestimate = measure(config, repeats, steps)
        per_epoch = math.ceil(train_images * config.train.repeats / config.train.batch_size)
        out.append((name, config.train.precise_bn_tiles, step, reestimate, per_epoch,
                    reestimate / (per_epoch * step)))
    return out


def print_table(table):
    print("| model | tiles | s / training step | s / re-estimation | steps / epoch | overhead per epoch |")
    print("|---|---|---|---|---|---|")
    for name, tiles, step, reestimate, per_epoch, overhead in table:
        print(f"| {name} | {tiles} | {step:.3f} | {reestimate:.3f} | {per_epoch} | {100 * overhead:.1f} % |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="experiment config (default: configs/idrid_unetpp_cpu.yaml)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (medians are reported)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per round")
    parser.add_argument("--train-images", type=int, default=48, help="training images (IDRiD: 54 - 6 validation)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    from pathlib import Path

    from hecl_keras.config import load_config

    path = args.config or Path(__file__).resolve().parents[1] / "configs" / "idrid_unetpp_cpu.yaml"
    extra = ["train.precise_bn=true"]
    if args.smoke:
        extra += ["augment.crop_size=[32, 32]", "train.batch_size=2", "train.precise_bn_tiles=4",
                  "model.base_filters=4"]
        args.repeats, args.steps, args.train_images = 1, 1, 4
    models = {"UNet++ 4..": []} if args.smoke else MODELS  # building EfficientNetB0 alone takes a minute
    configs = {name: load_config(path, [*extra, *overrides]) for name, overrides in models.items()}
    print_table(rows(configs, args.repeats, args.steps, args.train_images))


if __name__ == "__main__":
    main()
