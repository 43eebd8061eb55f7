"""Data: files → checked, cached uint8 arrays → device tensors → augmented, normalised batches.

Knows files and tensors, nothing about models. One module per on-disk format reads it
(``cifar``, ``imagefolder``, ``tinyimagenet``; ``synthetic`` makes data), ``sources`` says
where each named dataset is found, ``expected`` what it must hold, ``cache`` keeps decoded
arrays by content, ``loading`` checks, caches and splits, ``batches`` shuffles, augments and
normalises.
"""

from fisherlab.data.arrays import CorruptDataError, DataNotFoundError, ImageArrays
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

__all__ = [
    "CorruptDataError",
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
