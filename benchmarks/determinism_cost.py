"""What ``train.deterministic`` costs per training step (TensorFlow: op determinism and one inter-op thread,
on vs off).

Each measurement runs in a fresh process (op determinism cannot be switched off once on), in the
order off, on, off, on, ... so slow drifts of a shared machine hit both sides alike. A measurement
is ``hecl train``'s own path: the deterministic ``tf.data`` pipeline of synthetic fundus crops and
the compiled model, timed over ``--steps`` steps after one warm-up step.

Usage::

    python -m benchmarks.determinism_cost                      # UNet++ 16.., 256 crops, batch 6
    python -m benchmarks.determinism_cost --filters 8 --size 128 --batch 8 --repeats 3
    python -m benchmarks.determinism_cost --set model.backbone=unet --set model.encoder=efficientnetb0 --repeats 3
    python -m benchmarks.determinism_cost --smoke
"""

from __future__ import annotations

import argparse
import statistics
import sys

from benchmarks.fresh_process import run_in_fresh_process


def seconds_per_step(deterministic, filters, size, batch, steps, overrides=()):
    """One measurement in this process: median seconds per training step.

    ``overrides``: further ``key=value`` config settings (e.g. another backbone).
    """
    import time

    from hecl_keras.config import load_config
    from hecl_keras.data.experiment import load_experiment_data, training_inputs
    from hecl_keras.models.build import build_compiled_model
    from hecl_keras.training.trainer import enable_determinism

    config = load_config(None, [
        "data.source=synthetic", "data.synthetic.count=12", f"data.synthetic.height={2 * size}",
        f"data.synthetic.width={2 * size + 32}", f"data.short_side={int(1.5 * size)}", "data.val_count=0",
        f"augment.crop_size=[{size}, {size}]", f"model.base_filters={filters}", f"train.batch_size={batch}",
        "train.repeats=50", f"train.deterministic={str(deterministic).lower()}", *overrides,
    ])
    enable_determinism(config.train.seed, config.train.deterministic)
    data = load_experiment_data(config.data, show_progress=False)
    batches = iter(training_inputs(config, data).train)
    model = build_compiled_model(config)
    model.train_on_batch(*next(batches))  # compile
    times = []
    for _ in range(steps):
        x, y = next(batches)
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_in_fresh_process(deterministic, filters, size, batch, steps, overrides=(), env=None):
    """:func:`seconds_per_step` in a new Python process with ``env`` added to its environment.

    Returns:
        dict: ``seconds_per_step`` and the process's peak resident memory ``max_rss_mb``.
    """
    # A dict display evaluates in order: the peak memory is read after the measurement.
    values, output = run_in_fresh_process(
        "import resource; from benchmarks.determinism_cost import seconds_per_step",
        [f"{{'seconds_per_step': seconds_per_step({deterministic}, {filters}, {size}, {batch}, {steps}, "
         f"{list(overrides)!r}), 'max_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}"], env)
    if not values:
        raise RuntimeError(f"measurement failed:\n{output[-3000:]}")
    return values[-1]


def step_arguments(description, sides):
    """The command line of a fresh-process step benchmark: model width, crop, batch, steps, repeats, --smoke.

    ``sides``: what each pair of processes compares, for ``--repeats``' help. Parse with
    :func:`parse_step_arguments`.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help=f"{sides} pairs, each side in a fresh process")
    parser.add_argument("--smoke", action="store_true", help="tiny settings (CI)")
    return parser


def parse_step_arguments(parser, argv):
    args = parser.parse_args(argv)
    if args.smoke:
        args.filters, args.size, args.batch, args.steps, args.repeats = 4, 64, 2, 2, 1
    return args


def main(argv=None):
    parser = step_arguments(__doc__.split("\n")[0], "off/on")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for both sides (e.g. model.encoder=efficientnetb0)")
    args = parse_step_arguments(parser, argv)
    runs = {False: [], True: []}
    for _ in range(args.repeats):
        for deterministic in (False, True):
            runs[deterministic].append(measure_in_fresh_process(
                deterministic, args.filters, args.size, args.batch, args.steps, args.set)["seconds_per_step"])
    off, on = statistics.median(runs[False]), statistics.median(runs[True])
    model = " ".join(args.set) or "UNet++"
    print(f"\n{model}, base filters {args.filters}, {args.size}x{args.size} crops, batch {args.batch}, median of "
          f"{args.steps} steps x {args.repeats} fresh processes per side\n")
    print("| train.deterministic | s/step | vs off |")
    print("|---|---|---|")
    print(f"| false | {off:.3f} | 1.000 |")
    print(f"| true | {on:.3f} | {on / off:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
