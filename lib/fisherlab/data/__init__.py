"""Data: files → cached uint8 arrays → device tensors → augmented, normalised mini-batches.

Knows files and tensors, nothing about models. ``sources`` reads each on-disk format,
``loading`` caches and splits, ``batches`` shuffles, augments and normalises.
"""

from fisherlab.data.batches import augment, epoch_order, normalize, step_generator
from fisherlab.data.loading import (
    DataSplits,
    balanced_subset,
    holdout_split,
    label_noise,
    load_arrays,
    load_splits,
    resolve_data_root,
)
from fisherlab.data.sources import DataNotFoundError, ImageArrays

__all__ = [
    "DataNotFoundError",
    "DataSplits",
    "ImageArrays",
    "augment",
    "balanced_subset",
    "epoch_order",
    "holdout_split",
    "label_noise",
    "load_arrays",
    "load_splits",
    "normalize",
    "resolve_data_root",
    "step_generator",
]
