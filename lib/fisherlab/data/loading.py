"""From a dataset name to in-memory uint8 tensors: checked, cached, split, subset, noised.

Decoding happens once per source content into a ``.npy`` cache (``$FISHERLAB_CACHE`` or
``~/.cache/fisherlab``, :mod:`fisherlab.data.cache`); every later load is a memory map. What
is decoded is checked against what the dataset must be (:mod:`fisherlab.data.expected`) before
it is cached or served. The splits are seeded and independent of the training seed, so runs
that differ only in ``seed`` see the same data. The label noise is drawn with the same fixed seed
unless a run asks for its own draw (``data_options={"label_noise_seed": s}``, notebook 05).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fisherlab.config import ConfigError, check_choice
from fisherlab.data import cache
from fisherlab.data.arrays import DataNotFoundError, ImageArrays
from fisherlab.data.expected import check_arrays
from fisherlab.data.sources import HOW_TO_GET, Source, find_source
from fisherlab.data.synthetic import synthetic

__all__ = [
    "DataSplits",
    "balanced_subset",
    "holdout_split",
    "label_noise",
    "load_arrays",
    "load_splits",
    "resolve_data_root",
]

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_SEED = 20210707  # seeds the hold-out split and the subset; fixed so every run sees one split
# a data option read by load_splits, not by a dataset: the label noise's own seed (absent: fixed)
NOISE_SEED_OPTION = "label_noise_seed"


def resolve_data_root(data_root: str) -> list[Path]:
    """Candidate folders for ``data_root`` ('auto' expands to the usual places, in order)."""
    if data_root != "auto":
        return [Path(data_root).expanduser()]
    candidates = [
        REPO_ROOT / "data",
        REPO_ROOT.parent / "shared" / "datasets",
        cache.cache_dir() / "data",
    ]
    if "FISHERLAB_DATA" in os.environ:
        candidates.insert(0, Path(os.environ["FISHERLAB_DATA"]).expanduser())
    return candidates


def load_arrays(dataset: str, data_root: str = "auto", **options: Any) -> ImageArrays:
    """The whole dataset as uint8 arrays, decoded once and cached (memory-mapped afterwards).

    ``synthetic`` takes its options (sizes, classes, seed) from ``options`` and is not cached;
    the others take ``download`` (CIFAR via torchvision). The first root of
    :func:`resolve_data_root` that holds the dataset is used. Its classes and per-class counts
    must be the release's (e.g. CIFAR-10: 10 x 5,000 train, 10 x 1,000 test).

    Raises:
        DataNotFoundError: naming every place looked at and how to get the data.
        CorruptDataError (a ValueError): the data is damaged or incomplete (a corrupt or
            truncated archive, a missing class, wrong counts), naming the file or folder.
            Nothing is cached then.
    """
    from fisherlab.config import DATASETS

    check_choice("dataset", dataset, DATASETS)
    options.pop(NOISE_SEED_OPTION, None)  # the splits' option, not the dataset's
    if dataset == "synthetic":
        return synthetic(**options)
    download = bool(options.get("download", False))
    looked: list[str] = []
    for root in resolve_data_root(data_root):
        looked.append(str(root))
        if not root.exists():
            continue
        source = find_source(dataset, root, download=download)
        if source is not None:
            return _cached(source)
    raise DataNotFoundError(
        f"dataset={dataset!r} not found; looked in: {', '.join(looked)}. "
        f"To get it: {HOW_TO_GET[dataset]}"
    )


def _cached(source: Source) -> ImageArrays:
    """``source`` decoded: from the cache entry of its content, else read, checked and stored."""
    key = cache.content_key(
        source.dataset, source.reader, archives=source.archives, trees=source.trees
    )
    arrays = cache.load(key)
    if arrays is not None:
        check_arrays(source.dataset, arrays, source.where)
        return arrays
    arrays = source.read()
    check_arrays(source.dataset, arrays, source.where)
    cache.save(key, arrays)
    return arrays


def holdout_split(labels: np.ndarray, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): ``val_size`` examples drawn uniformly at random (paper I.2: 5,000)."""
    if val_size >= len(labels):
        raise ValueError(f"val_size={val_size} must be smaller than the {len(labels)} examples")
    perm = np.random.default_rng(seed).permutation(len(labels))
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of ``size`` examples with classes as equal as possible, drawn with ``seed``."""
    if size > len(labels):
        raise ValueError(f"subset={size} is larger than the {len(labels)} available examples")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    base, extra = divmod(size, len(classes))
    counts = [base + (i < extra) for i in range(len(classes))]
    short = [c for c, n, idx in zip(classes, counts, per_class, strict=True) if n > len(idx)]
    if short:
        raise ValueError(f"subset={size}: classes {short} have too few examples to balance")
    return np.sort(np.concatenate([idx[:n] for n, idx in zip(counts, per_class, strict=True)]))


def label_noise(
    labels: np.ndarray, fraction: float, num_classes: int, seed: int | list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform label noise (paper Section 4.1): ``round(fraction·N)`` examples chosen at random get
    a label drawn uniformly from all ``num_classes`` classes — which may equal the original, as the
    paper's wording allows, so the realised fraction of changed labels is ≈ fraction·(1 − 1/C).

    Returns ``(noisy_labels, mask)`` with ``mask`` marking the examples whose label changed.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"label_noise={fraction!r} must be in [0, 1)")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=round(fraction * len(labels)), replace=False)
    noisy = labels.copy()
    noisy[chosen] = rng.integers(0, num_classes, size=len(chosen))
    return noisy, noisy != labels


@dataclass
class DataSplits:
    """Tensors on one device: images uint8 (N, C, H, W), labels int64; normalisation stats."""

    train_images: Tensor
    train_labels: Tensor
    val_images: Tensor
    val_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    mean: Tensor  # (C,) per-channel mean of the training images, in [0, 1]
    std: Tensor
    classes: tuple[str, ...]
    noise_mask: Tensor  # bool (N_train,): label changed by label noise

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])  # type: ignore[return-value]


def _nchw(images: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).contiguous().to(device)


def load_splits(
    dataset: str,
    data_root: str = "auto",
    *,
    val_size: int = 5000,
    subset: int | None = None,
    label_noise_fraction: float = 0.0,
    device: torch.device | str = "cpu",
    data_options: dict[str, Any] | None = None,
) -> DataSplits:
    """Train/validation/test tensors as the paper sets them up (Supplement I.2).

    Validation is held out of the official training set (``val_size``, 0 for none); the
    training pool is then cut to a balanced ``subset``; label noise touches training labels only.
    Its draw is fixed (``DATA_SEED + 2``) unless ``data_options`` holds ``label_noise_seed: s``:
    then it is seeded by ``[s, DATA_SEED + 2]``, one draw per ``s``, none equal to the fixed one
    (notebook 05 passes each run's seed, so seeds replicate the noise as well as the
    initialisation). Normalisation statistics come from the final training images.
    """
    noise_seed = (data_options or {}).get(NOISE_SEED_OPTION)
    if noise_seed is not None and (
        isinstance(noise_seed, bool) or not isinstance(noise_seed, int) or noise_seed < 0
    ):
        raise ConfigError(f"data_options {NOISE_SEED_OPTION}={noise_seed!r} must be an integer ≥ 0")
    arrays = load_arrays(dataset, data_root, **(data_options or {}))
    labels = np.asarray(arrays.train_labels, dtype=np.int64)
    if val_size:
        train_idx, val_idx = holdout_split(labels, val_size, DATA_SEED)
    else:
        train_idx, val_idx = np.arange(len(labels)), np.arange(0)
    if subset is not None:
        train_idx = train_idx[balanced_subset(labels[train_idx], subset, DATA_SEED + 1)]
    train_labels = labels[train_idx]
    seed = DATA_SEED + 2 if noise_seed is None else [noise_seed, DATA_SEED + 2]
    noisy, mask = label_noise(train_labels, label_noise_fraction, len(arrays.classes), seed)
    device = torch.device(device)
    train_images = _nchw(np.asarray(arrays.train_images)[train_idx], device)
    scaled = train_images.float().div_(255)
    return DataSplits(
        train_images=train_images,
        train_labels=torch.from_numpy(noisy).to(device),
        val_images=_nchw(np.asarray(arrays.train_images)[val_idx], device),
        val_labels=torch.from_numpy(labels[val_idx]).to(device),
        test_images=_nchw(np.asarray(arrays.test_images), device),
        test_labels=torch.from_numpy(np.array(arrays.test_labels, dtype=np.int64)).to(device),
        mean=scaled.mean(dim=(0, 2, 3)),
        std=scaled.std(dim=(0, 2, 3)).clamp_min(1e-3),
        classes=tuple(arrays.classes),
        noise_mask=torch.from_numpy(mask).to(device),
    )
