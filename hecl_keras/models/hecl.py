"""The HECL model: supervised loss plus the patch-density and edge contrastive terms."""

import math

import keras
from keras import ops

from hecl_keras.losses.contrastive import (
    FORMS,
    SAMPLINGS,
    edge_vectors,
    patch_density_from_vectors,
    patch_vectors,
    supervised_contrastive_loss,
)
from hecl_keras.models.segmenter import Segmenter


def replicas_in_sync() -> int:
    """Replicas of the current ``tf.distribute`` strategy (1 outside one, and under other backends)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="hecl_keras")
class HECLSegmenter(Segmenter):
    """A segmenter trained with ``L_sup + alpha * (L_pd + L_de)`` (Tang, Cui, Chan, ICASSP 2024).

    The training step feeds the backbone's ``features`` (B,H,W,C) and the masks
    to :func:`~hecl_keras.losses.patch_density_loss` and
    :func:`~hecl_keras.losses.edge_contrast_loss`. Inference (``predict``,
    ``model(images)``) returns only the logits (B,H,W,1). ``val_loss`` is the
    same total as the training ``loss`` (supervised + alpha * contrastive,
    the features recomputed in inference mode), so the two are comparable;
    ``val_sup_loss`` is its supervised part.

    Metrics reported during training: ``loss`` (total), ``sup_loss``,
    ``pd_loss``, ``de_loss`` and ``pd_active``/``de_active``, the fraction of
    batches in which each contrastive term was non-zero (with the paper's
    settings L_pd is inactive in most batches; METHOD.md section 3.7).

    Under ``tf.distribute`` strategies the contrastive sets are formed per
    replica by default: each replica contrasts the patches and edges of its
    own share of the global batch. With ``gather_across_replicas=True`` the
    patch and edge vectors are all-gathered first, so positives and negatives
    span the global batch (TensorFlow backend).

    Args:
        backbone: a backbone with ``logits`` and ``features`` outputs.
        alpha: float. Weight of the contrastive terms (0.01).
        temperature: float. tau (0.05).
        grid: int. Patches per side (5).
        threshold: float. Density threshold of a dense patch (0.3).
        use_density: bool. Include L_pd (Table 2 ablations).
        use_edge: bool. Include L_de.
        sampling: ``"extremes"`` (k densest dense + k sparsest sparse patches) or ``"all"``.
        k: int. Patches per class with ``"extremes"`` (3).
        form: ``"supcon"`` (paper eq. 4) or ``"ntxent"`` (authors' code).
        gather_across_replicas: bool. Contrast over the global batch under a
            ``tf.distribute`` strategy.
        projection_dim: int. 0 (the paper): the contrastive terms see the decoder
            features themselves. > 0: they see a projection head's output instead
            (1x1 conv C->C, ReLU, 1x1 conv C->projection_dim, as SupCon and pixel
            contrast methods use), so the terms shape the features less directly.
            The head is used in training only; ``predict`` and export never run it.

        alpha_schedule: bool. Give the model a non-trainable ``alpha_scale`` variable
            (the terms' weight is then ``alpha * alpha_scale``) for :class:`AlphaSchedule`
            to ramp; without it the weight is ``alpha`` and the model's variables
            are the paper's (older ``.keras`` files keep loading).

    Example:
        >>> model = HECLSegmenter(get_backbone("unet_plus_plus", base_filters=16))
        >>> model.compile()
        >>> model.fit(train_ds, validation_data=val, epochs=10)
    """

    def __init__(self, backbone, alpha=0.01, temperature=0.05, grid=5, threshold=0.3, use_density=True,
                 use_edge=True, sampling="extremes", k=3, form="supcon", gather_across_replicas=False,
                 projection_dim=0, alpha_schedule=False, **kwargs):
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}. Received: form={form!r}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}. Received: sampling={sampling!r}")
        if not temperature > 0 or alpha < 0 or int(grid) != grid or grid < 1 or k < 1 or not 0 < threshold <= 1:
            raise ValueError(
                "Expected temperature > 0, alpha >= 0, an integer grid >= 1, k >= 1 and 0 < threshold <= 1. "
                f"Received: temperature={temperature}, alpha={alpha}, grid={grid}, k={k}, threshold={threshold}"
            )
        if int(projection_dim) < 0:
            raise ValueError(f"projection_dim must be >= 0. Received: projection_dim={projection_dim}")
        # Read by create_trackers(), which Segmenter.__init__ calls before building the model.
        self.projection_dim = int(projection_dim)
        self.alpha_schedule = bool(alpha_schedule)
        self._feature_channels = backbone.output["features"].shape[-1] if isinstance(backbone.output, dict) else None
        super().__init__(backbone, **kwargs)
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.grid = int(grid)
        self.threshold = float(threshold)
        self.use_density = bool(use_density)
        self.use_edge = bool(use_edge)
        self.sampling = sampling
        self.k = int(k)
        self.form = form
        self.gather_across_replicas = bool(gather_across_replicas)
    def create_trackers(self):
        self.sup_loss_tracker = keras.metrics.Mean(name="sup_loss")
        self.pd_loss_tracker = keras.metrics.Mean(name="pd_loss")
        self.de_loss_tracker = keras.metrics.Mean(name="de_loss")
        self.pd_active_tracker = keras.metrics.Mean(name="pd_active")
        self.de_active_tracker = keras.metrics.Mean(name="de_active")
        self.alpha_scale = (keras.Variable(1.0, dtype="float32", trainable=False, name="alpha_scale")
                            if self.alpha_schedule else None)
        self.projection = None
        if self.projection_dim:
            channels = self._feature_channels or self.projection_dim
            self.projection = keras.Sequential(
                [keras.layers.Conv2D(channels, 1, activation="relu", name="projection_1"),
                 keras.layers.Conv2D(self.projection_dim, 1, name="projection_2")], name="projection_head")
            self.projection.build((None, None, None, channels))

    def _gather(self, tensors):
        """All-gathers tensors along axis 0 across tf.distribute replicas (a no-op otherwise)."""
        if not self.gather_across_replicas or keras.backend.backend() != "tensorflow":
            return tensors
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return tensors
        return [context.all_gather(t, axis=0) for t in tensors]

    def contrastive_terms(self, features, masks):
        """``(L_pd, L_de)`` for a batch (on the projection head's output when there is one); a disabled term is 0."""
        if self.projection is not None:
            features = self.projection(features)
        zero = ops.zeros((), "float32")
        pd = de = zero
        if self.use_density:
            vectors, density, dense = patch_vectors(features, masks, self.grid, self.threshold)
            vectors, density, dense = self._gather([vectors, density, ops.cast(dense, "int32")])
            pd = patch_density_from_vectors(vectors, density, dense > 0, self.temperature, self.sampling, self.k,
                                            self.form)
        if self.use_edge:
            vectors, labels, valid = edge_vectors(features, masks, self.grid, self.threshold)
            vectors, labels, valid = self._gather([vectors, labels, ops.cast(valid, "int32")])
            de = supervised_contrastive_loss(vectors, labels, self.temperature, self.form, valid)
        return pd, de

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        sup = super().compute_loss(x, y, y_pred, sample_weight, training)
        if isinstance(y_pred, dict):
            features = y_pred["features"]
        else:
            # Validation/evaluation calls the model in inference mode, which returns logits only;
            # recompute the features so val_loss is the same total as the training loss.
            features = self.backbone(x, training=False)["features"]
        pd, de = self.contrastive_terms(features, y)
        # Under tf.distribute Keras divides each replica's loss by the replica count and sums the
        # gradients; the contrastive terms follow the same rule, and the trackers report unscaled values.
        replicas = replicas_in_sync()
        self.sup_loss_tracker.update_state(sup * replicas)
        self.pd_loss_tracker.update_state(pd)
        self.de_loss_tracker.update_state(de)
        self.pd_active_tracker.update_state(ops.cast(pd > 0, "float32"))
        self.de_active_tracker.update_state(ops.cast(de > 0, "float32"))
        weight = self.alpha if self.alpha_scale is None else self.alpha * ops.cast(self.alpha_scale, "float32")
        return sup + ops.cast(weight * (pd + de) / replicas, sup.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha": self.alpha, "temperature": self.temperature, "grid": self.grid, "threshold": self.threshold,
            "use_density": self.use_density, "use_edge": self.use_edge, "sampling": self.sampling, "k": self.k,
            "form": self.form, "gather_across_replicas": self.gather_across_replicas,
            "projection_dim": self.projection_dim, "alpha_schedule": self.alpha_schedule,
        }


class AlphaSchedule(keras.callbacks.Callback):
    """Sets ``alpha_scale`` of an :class:`HECLSegmenter` at each epoch start: 0 for ``off_epochs``, then a
    linear or cosine ramp to 1 over ``ramp_epochs`` (the contrastive terms join once the supervised
    features exist). The scale is logged as ``alpha_scale`` (so TensorBoard and ``log.csv`` show it).

    A pure function of the epoch, so a resumed run sets the same values.
    """

    SHAPES = ("linear", "cosine")

    def __init__(self, off_epochs=0, ramp_epochs=0, shape="linear"):
        super().__init__()
        if shape not in self.SHAPES or off_epochs < 0 or ramp_epochs < 0:
            raise ValueError(f"Expected off_epochs >= 0, ramp_epochs >= 0 and shape in {self.SHAPES}. "
                             f"Received: {off_epochs}, {ramp_epochs}, {shape!r}")
        self.off_epochs, self.ramp_epochs, self.shape = off_epochs, ramp_epochs, shape

    def scale(self, epoch):
        if epoch < self.off_epochs:
            return 0.0
        if not self.ramp_epochs:
            return 1.0
        t = min(1.0, (epoch - self.off_epochs + 1) / self.ramp_epochs)
        return t if self.shape == "linear" else 0.5 * (1 - math.cos(math.pi * t))

    def on_train_begin(self, logs=None):
        if getattr(self.model, "alpha_scale", None) is None:
            raise ValueError("AlphaSchedule needs an HECLSegmenter built with alpha_schedule=True.")

    def on_epoch_begin(self, epoch, logs=None):
        self.model.alpha_scale.assign(self.scale(epoch))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["alpha_scale"] = float(self.scale(epoch))
