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
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path


def data(batch, size):
    from hecl_keras.data import synthetic_crops

    return synthetic_crops(batch, size, size)


def keras_rate(width, size, batch, steps, hecl=False):
    import keras

    from hecl_keras.models import get_backbone
    from hecl_keras.models.hecl import HECLSegmenter
    from hecl_keras.models.segmenter import Segmenter

    x, y = data(batch, size)
    keras.utils.set_random_seed(0)
    backbone = get_backbone("unet_plus_plus", base_filters=width)
    model = HECLSegmenter(backbone) if hecl else Segmenter(backbone)
    model.compile(optimizer=keras.optimizers.Adam(3e-4), metrics=[])
    model.train_on_batch(x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return batch * steps / (time.perf_counter() - t0)


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

    idx = torch.nonzero(valid).flatten()
    if idx.numel() < 2:
        return vectors.sum() * 0
    z = torch.nn.functional.normalize(vectors[idx], dim=1, eps=1e-6)
    lab = labels[idx]
    if lab.unique().numel() < 2:
        return vectors.sum() * 0
    sim = z @ z.t() / tau
    eye = torch.eye(len(idx), dtype=torch.bool)
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
    ph, pw = h // grid, w // grid
    f = features[:, :, : grid * ph, : grid * pw].reshape(b, c, grid, ph, grid, pw).mean((3, 5))
    vectors = f.permute(0, 2, 3, 1).reshape(-1, c)
    m = torch.from_numpy(masks_np[..., 0])[:, : grid * ph, : grid * pw].reshape(b, grid, ph, grid, pw).mean((2, 4))
    density = m.reshape(-1)
    dense = density >= threshold
    order_d = torch.argsort(-density.masked_fill(~dense, -1.0), stable=True)[: min(3, int(dense.sum()))]
    order_s = torch.argsort(density.masked_fill(dense, 2.0), stable=True)[: min(3, int((~dense).sum()))]
    valid = torch.zeros_like(dense)
    valid[order_d] = True
    valid[order_s] = True
    pd = torch_contrastive(vectors, dense.long(), valid)
    inner, outer = authors_contours(masks_np, grid, threshold)  # CPU, per patch
    inner = torch.from_numpy(inner).permute(0, 3, 1, 2)
    outer = torch.from_numpy(outer).permute(0, 3, 1, 2)
    ea, ba = inner.sum((2, 3)), outer.sum((2, 3))
    edge = (features * inner).sum((2, 3)) / ea.clamp(min=1)
    back = (features * outer).sum((2, 3)) / ba.clamp(min=1)
    vecs = torch.cat([edge, back])
    labels = torch.cat([torch.ones(b, dtype=torch.long), torch.zeros(b, dtype=torch.long)])
    de = torch_contrastive(vecs, labels, torch.cat([ea[:, 0] > 0, ba[:, 0] > 0]))
    return pd, de


def torch_rate(width, size, batch, steps, hecl=False):
    import torch

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    x, y = data(batch, size)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y).permute(0, 3, 1, 2).contiguous()
    model = torch_unetpp(width)
    opt = torch.optim.Adam(model.parameters(), 3e-4)
    bce = torch.nn.BCEWithLogitsLoss()

    def step():
        opt.zero_grad()
        logits, features = model(xt)
        loss = bce(logits, yt)
        if hecl:
            pd, de = torch_hecl_terms(features, y)
            loss = loss + 0.01 * (pd + de)
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def in_fresh_process(expression, env=None):
    """Evaluates ``expression`` (over keras_rate and torch_rate) in a new Python process.

    Returns ``(value, stderr)``; value is None when the process printed no result.
    """
    code = ("import json; from benchmarks.train_throughput import keras_rate, torch_rate; "
            f"print('RESULT' + json.dumps({expression}))")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=3600, cwd=Path(__file__).resolve().parents[1])  # benchmarks importable
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT")]
    return (json.loads(line[-1][6:]) if line else None), proc.stderr


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
    rate, stderr = in_fresh_process(f"{kind}_rate({width}, {size}, {batch}, {steps}, {hecl!r})")
    if rate is None:
        raise RuntimeError(f"{kind} measurement failed: {stderr[-2000:]}")
    return float(rate)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--isolate", action="store_true", help="each TF/PyTorch measurement in a fresh process")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
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
    main()
