"""How large are the contrastive gradients next to the supervised one? (why HECL may lag at small budgets)

For augmented IDRiD training batches (as in training), computes with one tape the gradients of
L_sup, alpha*L_pd and alpha*L_de with respect to all trainable weights of a HECL model, and
reports per term: mean gradient norm, its ratio to L_sup's, the cosine with L_sup's gradient
and how often the term is active. Optionally splits the norm into the encoder/decoder weights
and the segmentation head. Run at initialisation and on a trained checkpoint.

TensorFlow backend (uses tf.GradientTape).

    python -m benchmarks.gradient_scale --data ../shared/data/IDRiD                  # fresh small UNet++, 256 crops
    python -m benchmarks.gradient_scale --data ../shared/data/IDRiD --model runs/x/checkpoints/best.keras
    python -m benchmarks.gradient_scale --config configs/idrid_effb0_hecl_cpu.yaml      # that config's fresh model
    python -m benchmarks.gradient_scale --config configs/idrid_effb0_hecl_cpu.yaml --model runs/h/checkpoints/best.keras
    python -m benchmarks.gradient_scale --smoke

With ``--config`` the model, its HECL settings (alpha, tau, grid, threshold, projection head) and the training
images come from that config (``--set`` overrides it); a ``--model`` trained with HECL keeps its own settings
and projection head.
"""

import argparse

import numpy as np


def _norm(grads):
    return float(np.sqrt(sum(float(np.sum(np.square(g))) for g in grads if g is not None)))


def _cos(a, b):
    dot = sum(float(np.sum(x * y)) for x, y in zip(a, b) if x is not None and y is not None)
    na, nb = _norm(a), _norm(b)
    return dot / (na * nb) if na > 0 and nb > 0 else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/IDRiD")
    parser.add_argument("--model", default=None, help=".keras checkpoint (default: a fresh model)")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--base-filters", type=int, default=16)
    parser.add_argument("--loss", default="dice_bce", choices=["bce", "dice_bce"])
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--config", default=None, help="a HECL experiment config: its model, terms and data")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides (with --config)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    import keras
    import tensorflow as tf

    from hecl_keras.data import AugmentConfig, AugmentedBatches, synthetic_pairs
    from hecl_keras.losses.supervised import get_supervised_loss
    from hecl_keras.models import get_backbone
    from hecl_keras.models.hecl import HECLSegmenter

    keras.utils.set_random_seed(0)
    if args.smoke:
        pairs, args.crop, args.batches, args.base_filters = synthetic_pairs(6, 96, 96), 64, 2, 4
        source, options = "synthetic", {"depth": 3}
    else:
        from hecl_keras.config import load_config
        from hecl_keras.data.experiment import load_experiment_data

        config = load_config(args.config, args.set if args.config else [f"data.source={args.data}"])
        if args.config and not config.hecl.enabled:
            parser.error(f"{args.config}: hecl.enabled is false, no contrastive terms to measure")
        pairs = load_experiment_data(config.data, show_progress=False).train
        source, options = f"IDRiD, {len(pairs)} training images, authors' scale", {}
    from hecl_keras.models.build import build_model, hecl_segmenter

    threshold, grid = (0.05, 4) if args.smoke else (0.3, 5)

    def with_terms(backbone):
        """``backbone`` with the config's terms (--config), else the command line's."""
        if args.config:
            return hecl_segmenter(backbone, config.hecl)
        return HECLSegmenter(backbone, alpha=args.alpha, temperature=args.temperature, grid=grid,
                             threshold=threshold)

    if args.model:
        from hecl_keras.saving import load_model

        trained = load_model(args.model)
        model = trained if isinstance(trained, HECLSegmenter) else with_terms(trained.backbone)
        label = args.model
    elif args.config:
        model, label = build_model(config), f"fresh model of {args.config}"
    else:
        model = with_terms(get_backbone("unet_plus_plus", base_filters=args.base_filters, **options))
        label = "fresh model"
    args.alpha, args.temperature = model.alpha, model.temperature
    sup_loss = get_supervised_loss(args.loss)
    batches = AugmentedBatches(pairs, args.batch, AugmentConfig(crop_size=(args.crop, args.crop)), repeats=100,
                               seed=1)
    weights = model.trainable_variables
    head = [i for i, w in enumerate(weights) if "logits" in w.path or "head" in w.path]
    rows = {"sup": [], "pd": [], "de": []}
    for b in range(args.batches):
        x, y = batches[b]
        with tf.GradientTape(persistent=True) as tape:
            out = model.backbone(x, training=True)
            sup = sup_loss(y, out["logits"])
            pd, de = model.contrastive_terms(out["features"], y)
            terms = {"sup": sup, "pd": args.alpha * pd, "de": args.alpha * de}
        grads = {k: [g.numpy() if g is not None else None for g in tape.gradient(v, weights)]
                 for k, v in terms.items()}
        del tape
        for k in rows:
            body = [g for i, g in enumerate(grads[k]) if i not in head]
            rows[k].append({"value": float(terms[k]), "norm": _norm(grads[k]), "body_norm": _norm(body),
                            "cos": _cos(grads[k], grads["sup"]), "active": float(terms[k]) > 0})
    print(f"\n{source}; {label}; {args.batches} batches of {args.batch} random {args.crop}x{args.crop} crops; "
          f"L_sup={args.loss}, alpha={args.alpha}, tau={args.temperature}\n")
    print("| term | active | mean value | grad norm | / L_sup's | same, without the 1x1 head | cosine with L_sup's |")
    print("|---|---|---|---|---|---|---|")
    sup_norm = np.mean([r["norm"] for r in rows["sup"]])
    sup_body = np.mean([r["body_norm"] for r in rows["sup"]])
    for k, label in (("sup", "L_sup"), ("pd", "alpha*L_pd"), ("de", "alpha*L_de")):
        active = [r for r in rows[k] if r["active"]] or rows[k]
        norm = np.mean([r["norm"] for r in active])
        body = np.mean([r["body_norm"] for r in active])
        cos = np.nanmean([r["cos"] for r in active]) if k != "sup" else 1.0
        print(f"| {label} | {sum(r['active'] for r in rows[k])}/{len(rows[k])} | "
              f"{np.mean([r['value'] for r in active]):.4f} | {norm:.4g} | {norm / sup_norm:.3f} | "
              f"{body / sup_body:.3f} | {cos:+.3f} |")
    print("\n(over the batches where the term is active. The contrastive terms do not reach the 1x1 "
          "segmentation head; the 'without' column compares on the weights all terms share.)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
