"""One worker of a two-process MultiWorkerMirroredStrategy HECL training (TF_CONFIG set by the caller).

Usage: python multi_worker.py RUN_DIR OUT_NPZ
"""

import sys
from pathlib import Path

import numpy as np

from hecl_keras.config import load_config
from hecl_keras.training.trainer import train

run_dir, out = sys.argv[1], sys.argv[2]
config = load_config(str(Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"), [
    "data.synthetic.count=8", "data.synthetic.height=96", "data.synthetic.width=112", "data.short_side=64",
    "data.val_count=2", "augment.crop_size=[32, 32]", "model.base_filters=4", "model.options={depth: 3}",
    "train.epochs=1", "train.repeats=2", "train.batch_size=4", "train.image_log_every=0", "eval.after_training=[]",
    "train.strategy=multi_worker", "hecl.enabled=true", "hecl.grid=4", "hecl.threshold=0.05",
])
result = train(config, run_dir=run_dir, verbose=0)
from hecl_keras.saving import load_model  # noqa: E402

model = load_model(f"{result['run_dir']}/model.keras")  # the chief's folder, or <run_dir>/worker<i>
np.savez(out, *[np.asarray(w) for w in model.get_weights()])
print("STEPS", len(result["history"]["loss"]), "LOSS", result["history"]["loss"][-1], "RUN_DIR", result["run_dir"])
