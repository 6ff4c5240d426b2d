"""The segmentation task model: a backbone plus Keras' compile/fit/predict plumbing."""

import keras

from hecl_keras.losses.supervised import SUPERVISED_LOSSES, get_supervised_loss
from hecl_keras.metrics.keras_metrics import segmentation_metrics
from hecl_keras.models.inputs import check_input_size


@keras.saving.register_keras_serializable(package="hecl_keras")
class Segmenter(keras.Model):
    """Wraps a backbone that returns ``{"logits", "features"}``.

    ``model(images)`` returns the logits (B,H,W,1) only; with ``training=True``
    it returns the backbone's dict, so subclasses (the HECL model) can use the
    features in :meth:`compute_loss`. Metrics always see the logits.

    Args:
        backbone: keras.Model from :func:`hecl_keras.models.get_backbone`.
        output_stride: int or None. Input H and W must be multiples of it; default the
            backbone's (set by ``get_backbone``).
        decision_threshold: float or None. The probability threshold for masks,
            chosen on validation after training (``hecl train`` sets it); saved
            with the model and used by ``hecl evaluate/predict/export`` unless
            overridden. None: 0.5.

    Example:
        >>> model = Segmenter(get_backbone("unet", base_filters=8, depth=3))
        >>> model.compile()
        >>> model.fit(images, masks, epochs=1)   # images (N,H,W,3), masks (N,H,W,1)
    """

    def __init__(self, backbone, decision_threshold=None, output_stride=None, min_lesion_pixels=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        # Input H and W must be multiples of this (from get_backbone; saved with the model).
        self.output_stride = output_stride or getattr(backbone, "output_stride", None)
        self.decision_threshold = None if decision_threshold is None else float(decision_threshold)
        # Image-level answer: components smaller than this (working-scale pixels) are removed (chosen on validation).
        self.min_lesion_pixels = None if min_lesion_pixels is None else float(min_lesion_pixels)
        self.create_trackers()
        if backbone.built:
            # Functional backbones are built at construction; so is the task
            # (BackupAndRestore and summary() need a built model before fit).
            self.build(backbone.input_shape)

    def create_trackers(self):
        """Subclasses create their extra metric trackers here (before the model is built)."""

    def build(self, input_shape=None):
        if not self.backbone.built:
            self.backbone.build(input_shape)
        self.built = True

    def call(self, images, training=False):
        if self.output_stride:  # a clear "pad to" message instead of a shape error deep in the decoder
            check_input_size(images.shape[1], images.shape[2], self.output_stride, self.backbone.name)
        outputs = self.backbone(images, training=training)
        return outputs if training else outputs["logits"]

    def predict_proba(self, images, **kwargs):
        """Probabilities (B,H,W,1) in [0, 1] (a sigmoid over :meth:`predict`)."""
        return keras.ops.convert_to_numpy(keras.ops.sigmoid(self.predict(images, **kwargs)))

    def compile(self, optimizer="auto", loss="bce", metrics="default", **kwargs):
        """Sensible defaults: Adam(3e-4) (the paper's), BCE from logits, pooled pixel metrics.

        Args:
            optimizer: ``"auto"`` (Adam with learning rate 3e-4) or anything
                ``keras.Model.compile`` takes (``"adam"`` is Keras' Adam(1e-3)).
            loss: ``"bce"``, ``"dice_bce"``, ``"focal"``, ``"tversky_bce"`` or any Keras loss on logits.
            metrics: ``"default"`` (iou, f1, precision, recall, pr_auc, roc_auc) or a list.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(3e-4)
        if isinstance(loss, str) and loss in SUPERVISED_LOSSES:
            loss = get_supervised_loss(loss)
        if metrics == "default":
            metrics = segmentation_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Reloading a .keras file re-compiles through our compile() with the saved objects.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @staticmethod
    def logits_of(y_pred):
        return y_pred["logits"] if isinstance(y_pred, dict) else y_pred

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(x, y, self.logits_of(y_pred), sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, self.logits_of(y_pred), sample_weight)

    def get_config(self):
        return {**super().get_config(), "backbone": keras.saving.serialize_keras_object(self.backbone),
                "decision_threshold": self.decision_threshold, "output_stride": self.output_stride,
                "min_lesion_pixels": self.min_lesion_pixels}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
