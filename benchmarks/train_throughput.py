"""Training throughput: Keras (TF, and JAX if installed) against an equivalent PyTorch UNet++.

Same machine, same run, side by side. For UNet++ at both widths (16.. and 32..) and both
sizes (256, 512): images per second of a supervised training step in Keras/TensorFlow,
Keras/JAX (a subprocess with KERAS_BACKEND=jax) and eager PyTorch (the comparator is
written below: the same nodes, BatchNorm, max-pool, bilinear up-sampling, Adam, BCE).
Then the HECL step: Keras (contour masks on the device) vs PyTorch with the contour masks
built the authors' way (per-patch SciPy morphology on the CPU, copied to a tensor).
PyTorch CPU: ``pip install torch==2.13.0``.

    python -m benchmarks.train_throughput                      # batch 2, 3 timed steps
    python -m benchmarks.train_throughput --sizes 256 --widths 16
    python -m benchmarks.train_throughput --sizes 256 512 --widths 16 --isolate   # a fresh process per measurement
    python -m benchmarks.train_throughput --smoke

On a CUDA machine with JAX and PyTorch (the device machine; no TensorFlow needed), the race of
issue #14 on the paper's setting -- UNet++ 32..512, 512x512, batch 6, float32 and bfloat16
(Keras ``mixed_bfloat16`` policy, PyTorch autocast), HECL and supervised steps, each framework
and precision in its own process, results written as they come:

    python -m benchmarks.train_throughput --race --device cuda --budget-seconds 240 --out race.json
    python -m benchmarks.train_throughput --race --device cpu --widths 4 --sizes 64 --batch 2 --steps 1  # CPU check
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.fresh_process import run_in_fresh_process


def data(batch, size):
    from hecl_keras.data import synthetic_crops

    return synthetic_crops(batch, size, size)


def keras_measure(width, size, batch, steps, hecl=False, precision="float32"):
    """One Keras training-step measurement on the current backend.

    ``precision`` "float32" or "bfloat16" (the ``mixed_bfloat16`` policy). The batch is put on the
    backend's device once, as the PyTorch side does. Returns {"images_per_second", "seconds_per_step",
    "first_step_seconds" (trace + compile + one step), "loss" (after the timed steps)}.
    """
    import keras

    from hecl_keras.models import get_backbone
    from hecl_keras.models.hecl import HECLSegmenter
    from hecl_keras.models.segmenter import Segmenter

    x, y = data(batch, size)
    x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        keras.utils.set_random_seed(0)
        backbone = get_backbone("unet_plus_plus", base_filters=width)
        model = HECLSegmenter(backbone) if hecl else Segmenter(backbone)
        model.compile(optimizer=keras.optimizers.Adam(3e-4), metrics=[])
        t0 = time.perf_counter()
        model.train_on_batch(x, y)  # returns host values: the step has finished
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            logs = model.train_on_batch(x, y, return_dict=True)
        elapsed = time.perf_counter() - t0
    finally:
        keras.config.set_dtype_policy("float32")
    return {"images_per_second": batch * steps / elapsed, "seconds_per_step": elapsed / steps,
            "first_step_seconds": first, "loss": float(logs["loss"])}


def keras_rate(width, size, batch, steps, hecl=False, precision="float32"):
    """Images per second of a Keras training step (see keras_measure)."""
    return keras_measure(width, size, batch, steps, hecl, precision)["images_per_second"]


def torch_unetpp(width, depth=5):
    import torch
    from torch import nn

    def node(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, momentum=0.1),
                             nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout, momentum=0.1), nn.ReLU(inplace=True))

    class UNetPP(nn.Module):
        def __init__(self):
            super().__init__()
            f = [width * 2**i for i in range(depth)]
            self.nodes = nn.ModuleDict()
            for i in range(depth):
                self.nodes[f"{i}_0"] = node(3 if i == 0 else f[i - 1], f[i])
            for j in range(1, depth):
                for i in range(depth - j):
                    self.nodes[f"{i}_{j}"] = node(f[i] * j + f[i + 1], f[i])
            self.head = nn.Conv2d(f[0], 1, 1)
            self.pool = nn.MaxPool2d(2)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.depth = depth

        def forward(self, x):
            n = {}
            for i in range(self.depth):
                n[f"{i}_0"] = self.nodes[f"{i}_0"](x if i == 0 else self.pool(n[f"{i - 1}_0"]))
            for j in range(1, self.depth):
                for i in range(self.depth - j):
                    parts = [n[f"{i}_{k}"] for k in range(j)] + [self.up(n[f"{i + 1}_{j - 1}"])]
                    n[f"{i}_{j}"] = self.nodes[f"{i}_{j}"](torch.cat(parts, 1))
            features = n[f"0_{self.depth - 1}"]
            return self.head(features), features

    return UNetPP()


def torch_contrastive(vectors, labels, valid, tau=0.05):
    """SupCon over the valid rows (same formula as hecl_keras.losses, written for torch)."""
    import torch

    idx = torch.nonzero(valid).flatten().to(vectors.device)
    if idx.numel() < 2:
        return vectors.sum() * 0
    z = torch.nn.functional.normalize(vectors[idx], dim=1, eps=1e-6)
    lab = labels[idx]
    if lab.unique().numel() < 2:
        return vectors.sum() * 0
    sim = z @ z.t() / tau
    eye = torch.eye(len(idx), dtype=torch.bool, device=vectors.device)
    pos = (lab[:, None] == lab[None, :]) & ~eye
    log_prob = sim - torch.logsumexp(sim.masked_fill(eye, -1e9), dim=1, keepdim=True)
    anchors = pos.any(1)
    per = -(log_prob * pos).sum(1)[anchors] / pos.sum(1)[anchors]
    return per.mean()


def torch_hecl_terms(features, masks_np, grid=5, threshold=0.3):
    """L_pd (3 extremes per class) + L_de with contour masks from per-patch SciPy (the authors' way)."""
    import torch

    from benchmarks.loss_overhead import authors_contours

    b, c, h, w = features.shape
    dev = features.device
    ph, pw = h // grid, w // grid
    f = features[:, :, : grid * ph, : grid * pw].reshape(b, c, grid, ph, grid, pw).mean((3, 5))
    vectors = f.permute(0, 2, 3, 1).reshape(-1, c)
    m = torch.from_numpy(masks_np[..., 0])[:, : grid * ph, : grid * pw].to(dev)
    m = m.reshape(b, grid, ph, grid, pw).mean((2, 4))
    density = m.reshape(-1)
    dense = density >= threshold
    order_d = torch.argsort(-density.masked_fill(~dense, -1.0), stable=True)[: min(3, int(dense.sum()))]
    order_s = torch.argsort(density.masked_fill(dense, 2.0), stable=True)[: min(3, int((~dense).sum()))]
    valid = torch.zeros_like(dense)
    valid[order_d] = True
    valid[order_s] = True
    pd = torch_contrastive(vectors, dense.long(), valid)
    inner, outer = authors_contours(masks_np, grid, threshold)  # CPU, per patch
    inner = torch.from_numpy(inner).permute(0, 3, 1, 2).to(dev)  # host -> device, every step
    outer = torch.from_numpy(outer).permute(0, 3, 1, 2).to(dev)
    ea, ba = inner.sum((2, 3)), outer.sum((2, 3))
    edge = (features * inner).sum((2, 3)) / ea.clamp(min=1)
    back = (features * outer).sum((2, 3)) / ba.clamp(min=1)
    vecs = torch.cat([edge, back])
    labels = torch.cat([torch.ones(b, dtype=torch.long, device=dev), torch.zeros(b, dtype=torch.long, device=dev)])
    de = torch_contrastive(vecs, labels, torch.cat([ea[:, 0] > 0, ba[:, 0] > 0]))
    return pd, de


def torch_measure(width, size, batch, steps, hecl=False, precision="float32", device="cpu"):
    """The same measurement in eager PyTorch on ``device``; "bfloat16" runs the forward pass under autocast.

    The HECL terms are computed in float32 from the decoder features, with the contour masks made on
    the host by SciPy and copied to the device every step (torch_hecl_terms). Same keys as keras_measure.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cpu":
        torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    x, y = data(batch, size)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(dev)
    yt = torch.from_numpy(y).permute(0, 3, 1, 2).contiguous().to(dev)
    model = torch_unetpp(width).to(dev)
    opt = torch.optim.Adam(model.parameters(), 3e-4)
    bce = torch.nn.BCEWithLogitsLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            logits, features = model(xt)
        loss = bce(logits.float(), yt)
        if hecl:
            pd, de = torch_hecl_terms(features.float(), y)
            loss = loss + 0.01 * (pd + de)
        loss.backward()
        opt.step()
        return loss

    def finish():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    t0 = time.perf_counter()
    step()
    finish()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    finish()
    elapsed = time.perf_counter() - t0
    return {"images_per_second": batch * steps / elapsed, "seconds_per_step": elapsed / steps,
            "first_step_seconds": first, "loss": float(loss.detach().cpu())}


def torch_rate(width, size, batch, steps, hecl=False, precision="float32", device="cpu"):
    """Images per second of an eager PyTorch training step (see torch_measure)."""
    return torch_measure(width, size, batch, steps, hecl, precision, device)["images_per_second"]


def in_fresh_process(expression, env=None):
    """Evaluates ``expression`` (over keras_rate and torch_rate) in a new Python process.

    Returns ``(value, output)``; value is None when the process printed no result.
    """
    values, output = run_in_fresh_process("from benchmarks.train_throughput import keras_rate, torch_rate",
                                          [expression], env)
    return (values[-1] if values else None), output


def jax_rates(cases, batch, steps):
    """Runs the Keras cases again in a subprocess under KERAS_BACKEND=jax; {} if JAX is missing."""
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        return {}
    expression = f"{{f'{{w}}/{{s}}/{{h}}': keras_rate(w, s, {int(batch)}, {int(steps)}, h) for w, s, h in {cases!r}}}"
    rates, _ = in_fresh_process(expression, env={"KERAS_BACKEND": "jax"})
    return rates or {}


def isolated_rate(kind, width, size, batch, steps, hecl):
    """One measurement (``kind`` "keras" or "torch") in a fresh Python process (no order effects between cases)."""
    rate, output = in_fresh_process(f"{kind}_rate({width}, {size}, {batch}, {steps}, {hecl!r})")
    if rate is None:
        raise RuntimeError(f"{kind} measurement failed: {output[-2000:]}")
    return float(rate)


RACE_GROUPS = [("keras", "float32"), ("torch", "float32"), ("keras", "bfloat16"), ("torch", "bfloat16")]


def device_name(device):
    """The accelerator's name (nvidia-smi's) for a CUDA race, else the processor's."""
    if device == "cuda":
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=30).stdout.strip()
            if out:
                return out.splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
        return "cuda (name unknown)"
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def race(width, size, batch, steps, device, budget_seconds, out_path, precisions=("float32", "bfloat16")):
    """Keras/JAX against eager PyTorch on one setting, float32 then bfloat16, HECL and supervised steps.

    Each (framework, precision) pair runs in its own process, in RACE_GROUPS order, while the budget
    lasts; ``out_path`` (JSON) is rewritten after every measurement, so a cut-off run keeps what finished.
    Returns the result dict.
    """
    deadline = time.monotonic() + budget_seconds
    result = {"device": device_name(device), "setting": {"model": f"UNet++ {width}..{width * 16}", "size": size,
                                                          "batch": batch, "timed_steps": steps},
              "keras_backend": "jax", "rows": [], "not_measured": [], "errors": []}

    def save():
        if out_path:
            Path(out_path).write_text(json.dumps(result, indent=2))

    steps_kind = [True, False]  # the HECL step first: it is the goal's measurement
    for kind, precision in [(k, p) for k, p in RACE_GROUPS if p in precisions]:
        left = deadline - time.monotonic()
        labels = [f"{kind}/{precision}/{'HECL' if h else 'supervised'}" for h in steps_kind]
        if left < 15:
            result["not_measured"] += labels
            continue
        extra = f", device={device!r}" if kind == "torch" else ""
        statements = [f"{kind}_measure({width}, {size}, {batch}, {steps}, {h!r}, {precision!r}{extra})"
                      for h in steps_kind]

        def on_result(i, value, kind=kind, precision=precision):
            row = {"framework": "Keras/JAX" if kind == "keras" else "PyTorch eager", "precision": precision,
                   "step": "HECL" if steps_kind[i] else "supervised", **value}
            result["rows"].append(row)
            print(f"{row['framework']} {precision} {row['step']}: {value['seconds_per_step'] * 1000:.1f} ms/step, "
                  f"{value['images_per_second']:.1f} images/s (first step {value['first_step_seconds']:.1f} s)",
                  flush=True)
            save()

        # The torch process imports hecl_keras too (synthetic data): JAX there, kept off the GPU's memory.
        env = {"KERAS_BACKEND": "jax"} if kind == "keras" else {"KERAS_BACKEND": "jax",
                                                                   "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
        values, tail = run_in_fresh_process("from benchmarks.train_throughput import keras_measure, torch_measure",
                                            statements, env, left, on_result)
        done = len(values)
        if done < len(statements):
            result["not_measured"] += labels[done:]
            result["errors"].append({"group": f"{kind}/{precision}", "output_tail": tail[-3000:]})
        save()
    return result


def race_table(result):
    """Markdown: per precision, both frameworks' step times, HECL overhead and the Keras/PyTorch ratio."""
    rows = {(r["framework"], r["precision"], r["step"]): r for r in result["rows"]}

    def ms(key):
        r = rows.get(key)
        return f"{r['seconds_per_step'] * 1000:.1f}" if r else "-"

    def overhead(fw, p):
        h, s = rows.get((fw, p, "HECL")), rows.get((fw, p, "supervised"))
        return f"{(h['seconds_per_step'] - s['seconds_per_step']) / h['seconds_per_step']:.1%}" if h and s else "-"

    def ratio(p, step):
        k, t = rows.get(("Keras/JAX", p, step)), rows.get(("PyTorch eager", p, step))
        return f"{t['seconds_per_step'] / k['seconds_per_step']:.2f}x" if k and t else "-"

    st = result["setting"]
    lines = [f"{result['device']}: {st['model']}, {st['size']}x{st['size']}, batch {st['batch']}, "
             f"{st['timed_steps']} timed steps after one warm-up (ms per training step)", "",
             "| precision | Keras/JAX supervised | Keras/JAX HECL | HECL share | PyTorch supervised | PyTorch HECL | "
             "HECL share | PyTorch/Keras, HECL step | PyTorch/Keras, supervised |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in ("float32", "bfloat16"):
        lines.append(f"| {p} | {ms(('Keras/JAX', p, 'supervised'))} | {ms(('Keras/JAX', p, 'HECL'))} | "
                     f"{overhead('Keras/JAX', p)} | {ms(('PyTorch eager', p, 'supervised'))} | "
                     f"{ms(('PyTorch eager', p, 'HECL'))} | {overhead('PyTorch eager', p)} | {ratio(p, 'HECL')} | "
                     f"{ratio(p, 'supervised')} |")
    if result["not_measured"]:
        lines.append(f"\nnot measured (budget or error): {', '.join(result['not_measured'])}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="default 256 512 (--race: 512)")
    parser.add_argument("--widths", type=int, nargs="+", default=None, help="default 16 32 (--race: 32)")
    parser.add_argument("--batch", type=int, default=None, help="default 2 (--race: 6)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps, default 3 (--race: 20)")
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--isolate", action="store_true", help="each TF/PyTorch measurement in a fresh process")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--race", action="store_true",
                        help="one setting (UNet++ 32.., 512x512, batch 6 unless given): Keras/JAX vs PyTorch, "
                             "float32 and bfloat16, HECL and supervised steps")
    parser.add_argument("--device", default="cuda", help="PyTorch device of --race (cuda, cpu)")
    parser.add_argument("--budget-seconds", type=float, default=240.0, help="--race stops starting work after this")
    parser.add_argument("--out", default=None, help="--race: JSON results, rewritten after every measurement")
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"],
                        help="--race: which precisions (in this order)")
    args = parser.parse_args(argv)
    if args.race:
        width, size = (args.widths or [32])[0], (args.sizes or [512])[0]
        result = race(width, size, args.batch or 6, args.steps or 20, args.device, args.budget_seconds, args.out,
                      args.precisions)
        print("\n" + race_table(result))
        return 0 if result["rows"] else 1
    args.sizes, args.widths = args.sizes or [256, 512], args.widths or [16, 32]
    args.batch, args.steps = args.batch or 2, args.steps or 3
    if args.smoke:
        args.sizes, args.widths, args.batch, args.steps, args.no_jax = [64], [4], 2, 1, True
    try:
        import torch

        torch.set_num_threads(os.cpu_count())
    except ImportError:
        torch = None
        print("PyTorch not installed (pip install torch==2.13.0): Keras columns only.")
    cases = [(w, s, False) for s in args.sizes for w in args.widths] + [(args.widths[0], s, True) for s in args.sizes]
    jax = {} if args.no_jax else jax_rates(cases, args.batch, args.steps)
    print(f"\nimages/s, batch {args.batch}, {args.steps} timed steps after one warm-up, {os.cpu_count()} CPUs\n")
    print("| step | UNet++ width | size | Keras/TF | Keras/JAX | PyTorch eager | Keras/TF / PyTorch |")
    print("|---|---|---|---|---|---|---|")
    for w, s, h in cases:
        if args.isolate:
            tf_rate = isolated_rate("keras", w, s, args.batch, args.steps, h)
            pt_rate = isolated_rate("torch", w, s, args.batch, args.steps, h) if torch is not None else float("nan")
        else:
            tf_rate = keras_rate(w, s, args.batch, args.steps, h)
            pt_rate = torch_rate(w, s, args.batch, args.steps, h) if torch is not None else float("nan")
        jx = jax.get(f"{w}/{s}/{h}", float("nan"))
        def cell(value, suffix=""):  # "n/a" where a framework is not installed (not a failed measurement)
            return "n/a" if math.isnan(value) else f"{value:.2f}{suffix}"

        print(f"| {'HECL' if h else 'supervised'} | {w} | {s} | {cell(tf_rate)} | {cell(jx)} | {cell(pt_rate)} | "
              f"{cell(tf_rate / pt_rate, 'x')} |")


if __name__ == "__main__":
    sys.exit(main())
