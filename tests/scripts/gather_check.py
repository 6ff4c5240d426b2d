"""Two CPU replicas of batch 3 with gather_across_replicas vs one replica of batch 6: same L_pd and L_de.

Run as a subprocess (logical devices must be set before TensorFlow starts). Prints "PD <a> <b>" and "DE <a> <b>".
"""

import numpy as np
import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

from hecl_keras.data import synthetic_pairs, tile_pairs  # noqa: E402
from hecl_keras.models import get_backbone  # noqa: E402
from hecl_keras.models.hecl import HECLSegmenter  # noqa: E402

x, y = tile_pairs(synthetic_pairs(4, 96, 96, seed=5, lesion_free_prob=0.0), (48, 48))
order = np.argsort(-y.reshape(len(y), -1).mean(1))
x, y = x[order][:6], y[order][:6]

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = HECLSegmenter(get_backbone("unet", base_filters=4, depth=3), grid=4, threshold=0.05,
                         gather_across_replicas=True)


def terms(images, masks):
    features = model.backbone(images, training=False)["features"]
    return model.contrastive_terms(features, masks)


dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(6))
images, masks = next(iter(dataset))
pd, de = strategy.run(tf.function(terms), args=(images, masks))
pd_replicas = [float(v) for v in strategy.experimental_local_results(pd)]
de_replicas = [float(v) for v in strategy.experimental_local_results(de)]
single_pd, single_de = model.contrastive_terms(model.backbone(x, training=False)["features"], y)
print("PD", *pd_replicas, float(single_pd))
print("DE", *de_replicas, float(single_de))

# model.fit under the strategy (per-replica sets and gathered sets): finite losses, all terms reported.
for gather in (False, True):
    with strategy.scope():
        fit_model = HECLSegmenter(get_backbone("unet", base_filters=4, depth=3), grid=4, threshold=0.05,
                                  gather_across_replicas=gather)
        fit_model.compile()
    history = fit_model.fit(x, y, batch_size=6, epochs=2, verbose=0).history
    print("FIT", int(gather), *[history[k][-1] for k in ("loss", "pd_loss", "de_loss")])

# One SGD step (SGD: Adam's first step would hide a gradient scale error): two replicas of 3 with
# gathered sets and synchronized BatchNorm (as hecl train sets them up) vs one replica of 6.
from hecl_keras.training.multi_worker import synchronize_batch_norm  # noqa: E402


def one_step(distributed):
    scope = strategy.scope() if distributed else tf.distribute.get_strategy().scope()
    with scope:
        step_model = HECLSegmenter(get_backbone("unet", base_filters=4, depth=3), grid=4, threshold=0.05,
                                   gather_across_replicas=True)
        step_model.compile(optimizer=keras.optimizers.SGD(0.5), loss="bce", metrics=[])
    step_model.set_weights(initial)
    if distributed:
        synchronize_batch_norm(step_model)
    # fit, not train_on_batch: under a strategy train_on_batch hands every replica the whole batch.
    history = step_model.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    return step_model.get_weights(), {k: v[-1] for k, v in history.items()}


import keras  # noqa: E402

keras.utils.set_random_seed(3)
initial = HECLSegmenter(get_backbone("unet", base_filters=4, depth=3), grid=4, threshold=0.05).get_weights()
(w2, logs2), (w1, logs1) = one_step(True), one_step(False)
print("STEP_MAX_DIFF", max(float(np.max(np.abs(a - b))) for a, b in zip(w2, w1)),
      max(float(np.max(np.abs(a - b))) for a, b in zip(w1, initial)))
print("STEP_LOGS", *[f"{k}={float(logs2[k])}/{float(logs1[k])}" for k in ("loss", "sup_loss", "pd_loss", "de_loss")])
