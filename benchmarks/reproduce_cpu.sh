#!/usr/bin/env bash
# The CPU protocol of docs/RESULTS.md: small UNet++ (16..), 256 crops at the authors' scale,
# UNet++ alone, +L_pd, +L_de and HECL; 2 seeds for UNet++ alone and HECL. Selection on the
# validation split; the test set is scored once per run (both protocols), then one table.
#
# Resumable: a finished run (result.json) is skipped, an interrupted one resumes from its
# BackupAndRestore state, a finished evaluation (metrics.json) is skipped.
#
#   bash benchmarks/reproduce_cpu.sh [OUT_DIR] [extra --set overrides...]
#   HECL_REPRO_TINY=1 bash benchmarks/reproduce_cpu.sh /tmp/repro     # ~1 min: the seed-0 pair, tiny synthetic (CI smoke)
set -euo pipefail
out="${1:-runs/reproduce_cpu}"
shift || true
here="$(cd "$(dirname "$0")/.." && pwd)"
config="$here/configs/idrid_unetpp_cpu.yaml"
extra=("$@")
if [ "${HECL_REPRO_TINY:-0}" = "1" ]; then
  config="$here/configs/quickstart.yaml"
  extra+=(--set data.synthetic.count=6 --set data.synthetic.height=96 --set data.synthetic.width=112
          --set data.short_side=64 --set data.val_count=2 --set data.synthetic.test_count=2
          --set augment.crop_size=[32,32] --set model.base_filters=4 --set "model.options={depth: 3}"
          --set train.epochs=1 --set train.image_log_every=0 --set hecl.grid=4 --set hecl.threshold=0.05)
fi
# Ordered so that a protocol cut short still holds the main comparison (seed 0 pair first).
variants=(
  "unetpp:0:hecl.enabled=false"
  "hecl:0:hecl.enabled=true"
  "unetpp:1:hecl.enabled=false"
  "hecl:1:hecl.enabled=true"
  "unetpp_pd:0:hecl.enabled=true hecl.use_edge=false"
  "unetpp_de:0:hecl.enabled=true hecl.use_density=false"
)
if [ "${HECL_REPRO_TINY:-0}" = "1" ]; then
  variants=("${variants[@]:0:2}")  # the smoke: the seed-0 pair (the other runs differ only in their overrides)
fi
mkdir -p "$out"
for v in "${variants[@]}"; do
  IFS=: read -r name seed sets <<< "$v"
  run="$out/${name}_s${seed}"
  args=()
  for s in $sets; do args+=(--set "$s"); done
  if [ -f "$run/result.json" ]; then
    echo "== $run: trained already, skipping"
  else
    echo "== training $run ($(date -u +%H:%M:%S))"
    start=$(date +%s)
    hecl train "$config" --run-dir "$run" --set train.seed="$seed" --set data.val_count=6 --set data.split_seed=0 \
      --set "eval.after_training=[]" "${args[@]}" "${extra[@]}"
    echo "$(( $(date +%s) - start ))" > "$run/train_wall_seconds.txt"
  fi
  if [ -f "$run/test/metrics.json" ]; then
    echo "== $run: evaluated already, skipping"
  else
    hecl evaluate --model "$run/checkpoints/best.keras" --split test --protocol both --out "$run/test"
  fi
done
python "$here/benchmarks/reproduce_table.py" "$out" | tee "$out/table.md"
