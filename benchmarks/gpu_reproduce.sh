#!/usr/bin/env bash
# The paper's full setting (UNet++ 32..512, 512x512 crops, batch 6) on one GPU: UNet++ alone vs
# HECL, each trained for a wall-clock budget, both scored on the IDRiD test set; one table.
# For a machine with JAX and an NVIDIA GPU but no TensorFlow and no dataset (the project's
# device machine): everything it needs travels in two ignored folders made here.
#
#   bash benchmarks/gpu_reproduce.sh prepare [CONFIG]   # here: .pack/idrid.npz (~35 MB) + .whl/ (keras & deps, ~3 MB)
#   bash benchmarks/gpu_reproduce.sh run [ARGS...]      # there: carry .pack and .whl; ARGS go to gpu_reproduce.py
#   bash benchmarks/gpu_reproduce.sh session [ARGS...]  # there: the speed race (train_throughput --race), then
#                                                       # run with --deadline-seconds: all of issue #14 in one call
#
# `run` writes results under $OUT/gpu_reproduce when OUT is set (the device tool's folder),
# else runs/gpu_reproduce; checkpoints (trained on IDRiD: never publish them) go to a temporary
# folder. Default budget: 150 s of training per variant (counted from the end of its first step)
# + compilation (~50 s for the first model on an H200, ~7 s for the next) + evaluation (~20-50 s).
# With the project's device tool: run(command="bash benchmarks/gpu_reproduce.sh session --workers 12",
# carry=[".pack", ".whl"], timeout_s=590); results come back as $OUT/gpu_reproduce/* (race.json,
# results.json with the race inside, table.md, log.txt, race.txt, <variant>/log.csv: within the tool's 8 files).
# session: HECL_SESSION_SECONDS (550) bounds the whole; HECL_RACE_SECONDS (190) the race; HECL_RACE_DEVICE
# (cuda) and HECL_RACE_ARGS (e.g. "--widths 4 --sizes 64 --batch 2 --steps 1" for a CPU check) shape it.
# Try `run --train-seconds 20 --variants unetpp` first only if device time allows a rerun.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
verb="${1:-}"
shift || true
pack="${HECL_PACK:-$here/.pack/idrid.npz}"

start_device_run() {  # JAX backend, keras from the carried wheels where the machine has none; $out made; the GPU named
  export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
  if ! python3 -c "import keras" 2> /dev/null && compgen -G "$here/.whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/hecl_site \
      "$here"/.whl/*.whl
    export PYTHONPATH="/tmp/hecl_site:${PYTHONPATH:-}"
  fi
  export PYTHONPATH="$here:${PYTHONPATH:-}"
  out="${OUT:-$here/runs}/gpu_reproduce"
  mkdir -p "$out"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
}

case "$verb" in
  prepare)
    config="${1:-$here/configs/idrid_unetpp.yaml}"
    hecl data pack "$config" --out "$pack"
    mkdir -p "$here/.whl"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$here/.whl" "keras==$(python3 -c 'import keras; print(keras.__version__)')" namex optree
    du -sh "$pack" "$here/.whl"
    ;;
  run)
    start_device_run
    python3 "$here/benchmarks/gpu_reproduce.py" --pack "$pack" --out "$out" \
      --work "${HECL_GPU_WORK:-$(mktemp -d)}" "$@" 2>&1 | tee "$out/log.txt"
    ;;
  session)
    # Issue #14 in one command with a deadline inside: the speed race first (stops starting work
    # after HECL_RACE_SECONDS), then both trainings sized to the time left of HECL_SESSION_SECONDS.
    # Every part writes its results as it finishes: race.json, then results.json after each variant.
    start_device_run
    total="${HECL_SESSION_SECONDS:-550}"
    # shellcheck disable=SC2086  # HECL_RACE_ARGS is a list of options
    python3 -m benchmarks.train_throughput --race --device "${HECL_RACE_DEVICE:-cuda}" \
      --budget-seconds "${HECL_RACE_SECONDS:-190}" --out "$out/race.json" ${HECL_RACE_ARGS:-} 2>&1 \
      | tee "$out/race.txt" || true
    left=$((total - SECONDS))
    echo "race done after ${SECONDS} s; ${left} s left for the trainings"
    python3 "$here/benchmarks/gpu_reproduce.py" --pack "$pack" --out "$out" --race "$out/race.json" \
      --deadline-seconds "$left" --work "${HECL_GPU_WORK:-$(mktemp -d)}" "$@" 2>&1 | tee "$out/log.txt"
    ;;
  *)
    echo "usage: bash benchmarks/gpu_reproduce.sh prepare [CONFIG] | run|session [gpu_reproduce.py args]" >&2
    exit 2
    ;;
esac
