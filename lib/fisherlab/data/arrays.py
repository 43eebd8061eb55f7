"""The decoded-dataset type, the data errors, and the argument checks every reader shares.

The paper (Jastrzebski et al., ICML 2021, Supplement I.2) trains on CIFAR-10, CIFAR-100 and
TinyImageNet at 32x32 RGB. Each reader in ``fisherlab.data`` (``cifar``, ``imagefolder``,
``tinyimagenet``, ``synthetic``) returns one :class:`ImageArrays`; a dataset that is absent
raises :class:`DataNotFoundError`, one that is there but damaged or incomplete raises
:class:`CorruptDataError`, naming the file or folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CorruptDataError", "DataNotFoundError", "ImageArrays", "as_path", "check_int"]


@dataclass(frozen=True, eq=False)
class ImageArrays:
    """A whole image-classification dataset, decoded.

    Images are ``uint8`` in ``(N, H, W, C)`` (channels last, RGB order for colour data); labels
    are ``int64`` indices into ``classes``. ``eq=False``: instances compare by identity (numpy
    arrays have no single truth value), compare fields with ``np.array_equal``.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images: np.ndarray = getattr(self, f"{split}_images")
            labels: np.ndarray = getattr(self, f"{split}_labels")
            if images.dtype != np.uint8 or images.ndim != 4:
                raise ValueError(
                    f"{split}_images must be uint8 (N, H, W, C); got {images.dtype} {images.shape}"
                )
            if labels.dtype != np.int64 or labels.shape != (images.shape[0],):
                raise ValueError(
                    f"{split}_labels must be int64 of shape ({images.shape[0]},); got "
                    f"{labels.dtype} {labels.shape}"
                )
            if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
                raise ValueError(
                    f"{split}_labels must lie in [0, {len(self.classes)}) (one per class); got "
                    f"[{labels.min()}, {labels.max()}]"
                )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise ValueError(
                f"train and test images differ in shape: {self.train_images.shape[1:]} vs "
                f"{self.test_images.shape[1:]}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` shared by every image."""
        h, w, c = self.train_images.shape[1:]
        return int(h), int(w), int(c)


class DataNotFoundError(FileNotFoundError):
    """The dataset is not where it was looked for.

    The message lists every place that was looked at and says how to get the data (download
    command / official URL, ``download=True``, or the converter to run). ``searched`` holds the
    paths looked at.
    """

    def __init__(self, message: str, searched: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.searched: tuple[Path, ...] = tuple(Path(p) for p in searched)

    def __str__(self) -> str:  # FileNotFoundError would otherwise print "[Errno ...]" forms
        return str(self.args[0])


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an ``int`` >= ``minimum`` (bools refused), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def as_path(name: str, value: object) -> Path:
    """``value`` (str or path-like, ``~`` expanded) as a Path, else a ValueError naming ``name``."""
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be a str or pathlib.Path; got {type(value).__name__}")
    return Path(value).expanduser()


class CorruptDataError(ValueError):
    """The dataset is there but is not what it must be.

    A corrupt or truncated archive, a missing class, a class or split with the wrong number of
    images. The message names the archive, file or folder, what was expected and what was found.
    Nothing is cached from such data.
    """
