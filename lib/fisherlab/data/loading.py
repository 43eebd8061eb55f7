"""From a dataset name to in-memory uint8 tensors: cache, hold-out split, subset, label noise.

Decoding happens once per source into a ``.npy`` cache (``$FISHERLAB_CACHE`` or
``~/.cache/fisherlab``); every later load is a memory map. The splits are seeded and
independent of the training seed, so runs that differ only in ``seed`` see the same data.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fisherlab.config import check_choice
from fisherlab.data import sources
from fisherlab.data.sources import DataNotFoundError, ImageArrays

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
CIFAR10_JPEG_TARBALL = "cifar10-jpeg.tar.gz"
DATA_SEED = 20210707  # seeds the hold-out split and the subset; fixed so every run sees one split


def cache_dir() -> Path:
    return Path(os.environ.get("FISHERLAB_CACHE", Path.home() / ".cache" / "fisherlab"))


def resolve_data_root(data_root: str) -> list[Path]:
    """Candidate folders for ``data_root`` ('auto' expands to the usual places, in order)."""
    if data_root != "auto":
        return [Path(data_root).expanduser()]
    candidates = [
        REPO_ROOT / "data",
        REPO_ROOT.parent / "shared" / "datasets",
        cache_dir() / "data",
    ]
    if "FISHERLAB_DATA" in os.environ:
        candidates.insert(0, Path(os.environ["FISHERLAB_DATA"]).expanduser())
    return candidates


def _extract_tarball(tarball: Path) -> Path:
    digest = hashlib.sha256(str(tarball.resolve()).encode()).hexdigest()[:12]
    dest = cache_dir() / f"extracted-{digest}"
    done = dest / ".complete"
    if not done.exists():
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            tar.extractall(dest, filter="data")
        done.touch()
    # the archive holds train/ and test/ at its top or one folder down
    for candidate in [dest, *sorted(p for p in dest.iterdir() if p.is_dir())]:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise DataNotFoundError(f"{tarball} holds no train/ and test/ folders")


def _read_cifar10(root: Path, download: bool) -> ImageArrays | None:
    if (root / "cifar-10-batches-py").is_dir() or download:
        return sources.read_cifar(root, 10, download=download)
    if (root / "train").is_dir() and (root / "test").is_dir():
        return sources.read_imagefolder(root)
    tarball = root if root.is_file() else root / CIFAR10_JPEG_TARBALL
    if tarball.is_file():
        return sources.read_imagefolder(_extract_tarball(tarball))
    return None


def _read(dataset: str, root: Path, options: dict[str, Any]) -> ImageArrays | None:
    download = bool(options.get("download", False))
    if dataset == "cifar10":
        return _read_cifar10(root, download)
    if dataset == "cifar100":
        if (root / "cifar-100-python").is_dir() or download:
            return sources.read_cifar(root, 100, download=download)
        return None
    if dataset == "tinyimagenet":
        prepared = root / sources.tinyimagenet_prepared_dirname(32)
        if (root / "fisherlab_prepared.json").exists() or prepared.is_dir():
            return sources.read_tinyimagenet(root)
        return None
    if dataset == "imagefolder":
        return sources.read_imagefolder(root) if root.exists() else None
    raise AssertionError(dataset)


def _cache_key(dataset: str, root: Path) -> str:
    return f"{dataset}-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]}"


def load_arrays(dataset: str, data_root: str = "auto", **options: Any) -> ImageArrays:
    """The whole dataset as uint8 arrays, decoded once and cached (memory-mapped afterwards).

    ``synthetic`` takes its options (sizes, classes, seed) from ``options`` and is not cached.
    Raises ``DataNotFoundError`` naming every place looked at and how to get the data.
    """
    from fisherlab.config import DATASETS

    check_choice("dataset", dataset, DATASETS)
    if dataset == "synthetic":
        return sources.synthetic(**options)
    looked: list[str] = []
    for root in resolve_data_root(data_root):
        looked.append(str(root))
        if not root.exists():
            continue
        key = cache_dir() / _cache_key(dataset, root)
        if (key / "complete").exists():
            return _load_cache(key)
        arrays = _read(dataset, root, options)
        if arrays is not None:
            _save_cache(key, arrays)
            return arrays
    how = {
        "cifar10": "pass data_options={'download': True} to download it with torchvision, or put "
        f"cifar-10-batches-py/ or {CIFAR10_JPEG_TARBALL} in one of those folders",
        "cifar100": "pass data_options={'download': True} to download it with torchvision, or put "
        "cifar-100-python/ in one of those folders",
        "tinyimagenet": f"download tiny-imagenet-200.zip from {sources.TINYIMAGENET_URL} and run "
        "fisherlab.data.sources.prepare_tinyimagenet(zip_path, Path(data_root) / "
        f"{sources.tinyimagenet_prepared_dirname(32)!r})",
        "imagefolder": "point data_root at a folder holding train/<class>/ and test/<class>/",
    }[dataset]
    raise DataNotFoundError(
        f"dataset={dataset!r} not found; looked in: {', '.join(looked)}. To get it: {how}"
    )


def _save_cache(key: Path, arrays: ImageArrays) -> None:
    key.mkdir(parents=True, exist_ok=True)
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        tmp = key / f"{name}.tmp.npy"
        np.save(tmp, getattr(arrays, name))
        os.replace(tmp, key / f"{name}.npy")
    (key / "classes.txt").write_text("\n".join(arrays.classes))
    (key / "complete").touch()


def _load_cache(key: Path) -> ImageArrays:
    def arr(name: str) -> np.ndarray:
        return np.load(key / f"{name}.npy", mmap_mode="r")

    return ImageArrays(
        train_images=arr("train_images"),
        train_labels=arr("train_labels"),
        test_images=arr("test_images"),
        test_labels=arr("test_labels"),
        classes=tuple((key / "classes.txt").read_text().split("\n")),
    )


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
    labels: np.ndarray, fraction: float, num_classes: int, seed: int
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
    Normalisation statistics come from the final training images.
    """
    arrays = load_arrays(dataset, data_root, **(data_options or {}))
    labels = np.asarray(arrays.train_labels, dtype=np.int64)
    if val_size:
        train_idx, val_idx = holdout_split(labels, val_size, DATA_SEED)
    else:
        train_idx, val_idx = np.arange(len(labels)), np.arange(0)
    if subset is not None:
        train_idx = train_idx[balanced_subset(labels[train_idx], subset, DATA_SEED + 1)]
    train_labels = labels[train_idx]
    noisy, mask = label_noise(
        train_labels, label_noise_fraction, len(arrays.classes), DATA_SEED + 2
    )
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
