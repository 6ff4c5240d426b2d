"""What TensorFlow's CPU allocator costs per training step: its default against the BFC allocator.

``import hecl_keras`` sets ``TF_CPU_ALLOCATOR_USE_BFC=true`` unless the variable is already set
(docs/RESULTS.md section 16). The variable is read once per process, so each measurement runs in a
fresh process, in the order default, BFC, default, BFC, ... (a slow drift of a shared machine hits
both sides alike). A measurement is ``hecl train``'s own path
(:func:`benchmarks.determinism_cost.seconds_per_step`: the ``tf.data`` pipeline of synthetic fundus
crops, whose first batches are what makes the default allocator slow, and the compiled model), with
the process's peak resident memory beside it.

Usage::

    python -m benchmarks.cpu_allocator                                  # UNet++ 16.., 256 crops, batch 6
    python -m benchmarks.cpu_allocator --set model.backbone=unet --set model.encoder=efficientnetb0
    python -m benchmarks.cpu_allocator --smoke
"""

from __future__ import annotations

import statistics
import sys

from benchmarks.determinism_cost import measure_in_fresh_process, parse_step_arguments, step_arguments

SIDES = {"default": "false", "BFC": "true"}


def main(argv=None):
    parser = step_arguments(__doc__.split("\n")[0], "default/BFC")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the model (repeatable), e.g. model.backbone=unet")
    args = parse_step_arguments(parser, argv)
    runs = {side: [] for side in SIDES}
    for _ in range(args.repeats):
        for side, value in SIDES.items():
            runs[side].append(measure_in_fresh_process(True, args.filters, args.size, args.batch, args.steps,
                                                       args.set, env={"TF_CPU_ALLOCATOR_USE_BFC": value}))
    step = {side: statistics.median(r["seconds_per_step"] for r in runs[side]) for side in SIDES}
    memory = {side: max(r["max_rss_mb"] for r in runs[side]) for side in SIDES}
    model = " ".join(args.set) or f"UNet++ {args.filters}.."
    print(f"\n{model}, {args.size}x{args.size} crops, batch {args.batch}, train.deterministic, median of "
          f"{args.steps} steps x {args.repeats} fresh processes per side\n")
    print("| TensorFlow CPU allocator | s/step | speed-up vs default | peak RSS MiB |")
    print("|---|---|---|---|")
    for side in SIDES:
        print(f"| {side} | {step[side]:.3f} | {step['default'] / step[side]:.2f}x | {memory[side]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
