"""The data of an experiment: training/validation pairs at working scale, originals for evaluation,
and the ``fit`` inputs made from them."""

from __future__ import annotations

import dataclasses
import sys

from hecl_keras.data.augment import augment_config
from hecl_keras.data.cache import ArrayCache
from hecl_keras.data.datasets import load_splits, training_split_name
from hecl_keras.data.errors import DataError
from hecl_keras.data.pipeline import AugmentedBatches, CropPlanner, SyncEpoch, tf_training_dataset, tile_pairs
from hecl_keras.data.preprocess import (
    Pair,
    load_pair,
    preprocess_arrays,
    preprocess_config,
    read_pair,
    validation_split,
)
from hecl_keras.data.synthetic import synthetic_fundus
from hecl_keras.progress import Progress


@dataclasses.dataclass
class ExperimentSplit:
    """Which photographs an experiment trains, validates and tests on, read at original resolution on demand.

    Attributes:
        split: ``{"train": [ids], "val": [ids], "test": [ids]}``.
        originals: callable(split) -> iterator of (id, image (H,W,3) uint8, mask (H,W) bool) at original
            resolution, in split order.
    """

    split: dict
    originals: object


@dataclasses.dataclass
class ExperimentData(ExperimentSplit):
    """Everything the trainer and evaluator need: the split, and its training and validation pairs at working
    scale (preprocessed as training sees them, :func:`~hecl_keras.data.preprocess.preprocess_config`'s
    ``"training"`` stage).

    Attributes:
        split, originals: as :class:`ExperimentSplit`.
        train: list of :class:`Pair` (working scale) for training.
        val: list of :class:`Pair` for validation / model selection.
    """

    train: list = dataclasses.field(default_factory=list)
    val: list = dataclasses.field(default_factory=list)


def _synthetic_split(data_config):
    """``(split, read)`` of the synthetic data set: ``read(id) -> (image (H,W,3) uint8, mask (H,W) bool)``."""
    s = data_config.synthetic
    ids = {f"syn_{i:03d}": (s.seed * 100003 + i) for i in range(s.count)}
    test_ids = {f"syn_test_{i:03d}": ((s.seed + 1) * 100003 + 50000 + i) for i in range(s.test_count)}

    def read(sample_id):
        seed = ids.get(sample_id, test_ids.get(sample_id))
        return synthetic_fundus(s.height, s.width, seed=seed)

    train_ids, val_ids = validation_split(list(ids), data_config.val_count, data_config.split_seed)
    return {"train": train_ids, "val": val_ids, "test": sorted(test_ids)}, read


def _folder_split(data_config):
    """``(split, {id: Sample}, read)`` of a dataset folder: ``read(id) -> (image, mask)`` decodes the files."""
    splits = load_splits(data_config.source, mask_suffix=data_config.mask_suffix)
    by_id = {s.id: s for name in splits for s in splits[name]}
    train_ids, val_ids = validation_split([s.id for s in splits[training_split_name(splits)]],
                                          data_config.val_count, data_config.split_seed)
    split = {"train": train_ids, "val": val_ids, "test": [s.id for s in splits.get("test", [])]}
    return split, by_id, lambda sample_id: read_pair(by_id[sample_id])


def _originals(split, read):
    """``originals(name)`` of :class:`ExperimentSplit`: each id of the split with ``read(id)``, lazily."""

    def originals(name):
        for sample_id in split[name]:
            yield (sample_id, *read(sample_id))

    return originals


def experiment_split(data_config) -> ExperimentSplit:
    """The seeded validation split of ``config.data`` and its originals, without preprocessing any image (what
    evaluation and the run-scoring benchmarks need)."""
    if data_config.source == "synthetic":
        split, read = _synthetic_split(data_config)
    else:
        split, _, read = _folder_split(data_config)
    return ExperimentSplit(split, _originals(split, read))


def _synthetic(data_config):
    split, read = _synthetic_split(data_config)
    pre = preprocess_config(data_config, "training")

    def pair(sample_id):
        image, mask, t = preprocess_arrays(*read(sample_id), pre)
        return Pair(sample_id, image, mask, t)

    return ExperimentData(split, _originals(split, read), [pair(i) for i in split["train"]],
                          [pair(i) for i in split["val"]])


def _from_disk(data_config, show_progress=True):
    split, by_id, read = _folder_split(data_config)
    cache = ArrayCache(data_config.cache_dir)
    pre = preprocess_config(data_config, "training")
    wanted = split["train"] + split["val"]
    bar = Progress(len(wanted), "loading + preprocessing (cached after the first run)") if show_progress else None
    pairs = {}
    for n, sample_id in enumerate(wanted, 1):
        pairs[sample_id] = load_pair(by_id[sample_id], pre, cache)
        if bar:
            bar(n, item=sample_id)
    if show_progress:
        print(f"cache: {cache.hits} hits, {cache.misses} misses in {cache.folder}", file=sys.stderr)
    return ExperimentData(split, _originals(split, read), [pairs[i] for i in split["train"]],
                          [pairs[i] for i in split["val"]])


def evaluation_items(data_config, split):
    """``(items, count)``: the (id, image, mask) of a split at original resolution, read lazily.

    ``"test"`` and ``"all"`` (every pair of every split; the only split of a flat
    ``images/`` + ``masks/`` folder) are read straight from the folder; ``"train"`` and
    ``"val"`` come from the seeded validation split (:func:`experiment_split`). No
    image is preprocessed. Raises :class:`DataError` for a split the data does not have.
    """
    if data_config.source == "synthetic" or split in ("train", "val"):
        if split == "all":
            raise DataError("split 'all' needs a dataset folder; the synthetic set has train, val and test")
        data = experiment_split(data_config)
        ids = data.split.get(split) or []
        if not ids:
            raise DataError(f"Split {split!r} is empty or missing in {data_config.source}.")
        return data.originals(split), len(ids)
    splits = load_splits(data_config.source, mask_suffix=data_config.mask_suffix)
    samples = [s for name in splits for s in splits[name]] if split == "all" else splits.get(split, [])
    if not samples:
        raise DataError(f"{data_config.source} has no {split!r} split (it has: {', '.join(splits)}); "
                        "use --split all to score every pair of a folder")
    return ((s.id, *read_pair(s)) for s in samples), len(samples)


def default_split(data_config) -> str:
    """``"test"`` when the data has a test split (IDRiD, split folders, synthetic), else ``"all"``."""
    if data_config.source == "synthetic":
        return "test"
    return "test" if "test" in load_splits(data_config.source, mask_suffix=data_config.mask_suffix) else "all"


def load_experiment_data(data_config, show_progress=True) -> ExperimentData:
    """Builds :class:`ExperimentData` from ``config.data`` (synthetic or a folder)."""
    if data_config.source == "synthetic":
        return _synthetic(data_config)
    return _from_disk(data_config, show_progress)


@dataclasses.dataclass
class TrainingInputs:
    """What ``model.fit`` needs from an experiment's data.

    Attributes:
        train: ``tf.data.Dataset`` (TensorFlow backend) or :class:`AugmentedBatches`
            of (float32 (B,h,w,3), float32 (B,h,w,1)).
        validation: ``(images (N,h,w,3), masks (N,h,w,1))`` tiles of the validation images, or None.
        sync_epoch: a :class:`SyncEpoch` callback; pass it to ``fit`` so a resumed run sees the same crops.
    """

    train: object
    validation: object
    sync_epoch: object


def training_inputs(config, data, pipeline="auto", workers=1) -> TrainingInputs:
    """The training batches and validation tiles of ``config`` (``train``/``augment`` sections) for ``data``.

    Args:
        config: ExperimentConfig.
        data: :class:`ExperimentData` or anything with ``train`` and ``val`` lists of pairs (e.g. a pack).
        pipeline: ``"tf.data"``, ``"pydataset"`` or ``"auto"`` (``tf.data`` under TensorFlow).
        workers: ``PyDataset`` worker threads.
    """
    import keras

    t = config.train
    aug = augment_config(config)
    if pipeline == "auto":
        pipeline = "tf.data" if keras.backend.backend() == "tensorflow" else "pydataset"
    if pipeline == "tf.data":
        planner, padded = CropPlanner.from_pairs(data.train, t.repeats, t.seed, aug)
        train = tf_training_dataset(padded, t.batch_size, aug, repeats=t.repeats, seed=t.seed, planner=planner)
    else:
        train = planner = AugmentedBatches(data.train, t.batch_size, aug, repeats=t.repeats, seed=t.seed,
                                           workers=workers)
    validation = tile_pairs(data.val, aug.crop_size) if data.val else None
    return TrainingInputs(train, validation, SyncEpoch(planner))
