"""``model.fit`` under ``tf.distribute.MultiWorkerMirroredStrategy`` with Keras 3 (TensorFlow backend).

Keras 3.15's TensorFlow trainer fails under the collective multi-worker strategy
in two places (keras-team/keras#20585; the second error is also reported in
tensorflow/tensorflow#72388, closed without a fix, workaround there: Keras 2):

1. ``_maybe_symbolic_build`` MEAN-reduces the first distributed input batch
   with ``strategy.reduce(..., axis=None)`` just to get shapes; the collective
   strategy cannot convert a ``PerReplica`` input there ("Attempt to convert a
   value (PerReplica ...) to a Tensor").
2. ``reduce_per_replica`` reduces every log value with
   ``strategy.reduce("MEAN", v, axis=0)``; losses and metrics are scalars, so
   the reduction fails ("Invalid reduction dimension 0 for input with 0 dimensions").

:func:`patch_for_multi_worker` works around both on one model instance: the
symbolic build uses the first local replica's batch (shapes are all it needs),
and the train/test steps return each log value with shape (1,), whose axis-0
mean across replicas is the replica mean Keras intends. Gradients, optimizer
updates and loss scaling are Keras' own. :func:`synchronize_batch_norm` makes
BatchNorm use global-batch statistics, so all workers end with identical
weights, moving statistics included.

Both are applied by :func:`hecl_keras.training.trainer.train`; a test runs two
workers on 127.0.0.1 and compares their weights (tests/test_distributed.py).
"""

from __future__ import annotations

import types

import keras


def is_multi_worker(strategy) -> bool:
    """True for ``tf.distribute.MultiWorkerMirroredStrategy`` (collective all-reduce)."""
    if strategy is None:
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def patch_for_multi_worker(model):
    """Applies the two workarounds above to ``model`` (a Keras 3 model on the TensorFlow backend).

    Call it after ``compile`` and before ``fit``, under the strategy's scope or not.

    Raises:
        RuntimeError: this Keras no longer has the internals the workaround replaces
            (then try without it: the upstream bug may be fixed).
    """
    import tensorflow as tf

    cls = type(model)
    if not hasattr(cls, "_maybe_symbolic_build"):
        raise RuntimeError(f"Keras {keras.__version__} has no Model._maybe_symbolic_build: the multi-worker "
                           "workaround does not apply; check whether keras-team/keras#20585 is fixed.")

    def first_local_replica(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return model.distribute_strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and self.distribute_strategy is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(first_local_replica, next(it))
                break
            iterator = None
        return cls._maybe_symbolic_build(self, iterator=iterator, data_batch=data_batch)

    def as_vectors(logs):
        return {name: tf.reshape(value, (1,)) for name, value in logs.items()}

    def train_step(self, data):
        return as_vectors(cls.train_step(self, data))

    def test_step(self, data):
        return as_vectors(cls.test_step(self, data))

    for name, fn in (("_maybe_symbolic_build", maybe_symbolic_build), ("train_step", train_step),
                     ("test_step", test_step)):
        object.__setattr__(model, name, types.MethodType(fn, model))
    return model


def synchronize_batch_norm(model, synchronized=True) -> int:
    """Sets ``synchronized`` on every BatchNormalization layer of ``model``; returns how many."""
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = synchronized
            count += 1
    return count
