"""CIFAR-10 and CIFAR-100 from the official "python version" pickles, decoded into arrays.

Format: exactly what ``torchvision.datasets.CIFAR10/100(root, download=True)`` leaves on disk,
i.e. the extracted official ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``. Paper:
CIFAR-10 and CIFAR-100 at their native 32x32 (Jastrzebski et al., 2021, Supplement I.2).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fisherlab.data.arrays import CorruptDataError, DataNotFoundError, ImageArrays, as_path

__all__ = ["CIFAR10_URL", "CIFAR100_URL", "cifar_files", "download_cifar", "read_cifar"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"


@dataclass(frozen=True)
class _CifarLayout:
    dirname: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    names_key: str
    archive: str
    url: str
    tv_class: str


_CIFAR_LAYOUTS: dict[int, _CifarLayout] = {
    10: _CifarLayout(
        dirname="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        meta_file="batches.meta",
        label_key="labels",
        names_key="label_names",
        archive="cifar-10-python.tar.gz",
        url=CIFAR10_URL,
        tv_class="CIFAR10",
    ),
    100: _CifarLayout(
        dirname="cifar-100-python",
        train_files=("train",),
        test_files=("test",),
        meta_file="meta",
        label_key="fine_labels",
        names_key="fine_label_names",
        archive="cifar-100-python.tar.gz",
        url=CIFAR100_URL,
        tv_class="CIFAR100",
    ),
}


def _unpickle(path: Path) -> dict[str, Any]:
    """Load one CIFAR pickle; keys normalised to ``str``.

    The official files are Python 2 pickles whose keys come back as ``bytes`` under
    ``encoding="bytes"``; ``latin1`` (as torchvision uses) makes numpy arrays load correctly and
    we accept both ``str`` and ``bytes`` keys. Pickles can execute code: only read files from the
    official release (or ones you wrote).
    """
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise CorruptDataError(
            f"{path}: not a readable CIFAR pickle, corrupt or truncated ({exc}); replace it with "
            "the file from the official release"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _get(d: dict[str, Any], key: str, path: Path) -> Any:
    if key not in d:
        raise ValueError(f"{path}: missing key {key!r} (has {sorted(d)})")
    return d[key]


def _read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    data = np.asarray(_get(d, "data", path))
    labels = np.asarray(_get(d, label_key, path), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{path}: 'data' must be uint8 of shape (N, 3072); got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],):
        raise ValueError(
            f"{path}: {label_key!r} has {labels.size} entries for {data.shape[0]} images"
        )
    # Each row is the red, then green, then blue 32x32 plane, each row-major: (C, H, W).
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _cifar_how_to_get(root: Path, layout: _CifarLayout, num_classes: int) -> str:
    return (
        f"Get CIFAR-{num_classes} with one of:\n"
        f"  - fisherlab.data.cifar.read_cifar({str(root)!r}, {num_classes}, download=True)\n"
        f"  - torchvision.datasets.{layout.tv_class}({str(root)!r}, download=True)\n"
        f"  - mkdir -p {root} && curl -L {layout.url} | tar -xz -C {root}\n"
        f"    (official release: {layout.url})"
    )


def _layout(num_classes: object) -> _CifarLayout:
    if isinstance(num_classes, bool) or num_classes not in _CIFAR_LAYOUTS:
        raise ValueError(
            f"num_classes must be 10 (CIFAR-10) or 100 (CIFAR-100); got {num_classes!r}"
        )
    return _CIFAR_LAYOUTS[num_classes]  # type: ignore[index]


def cifar_files(root: str | Path, num_classes: int = 10) -> dict[str, tuple[Path, ...]]:
    """The pickles :func:`read_cifar` reads under ``root``: ``{"train", "test", "meta"}`` -> paths.

    ``root`` holds the ``cifar-10-batches-py`` / ``cifar-100-python`` folder or is that folder.
    Raises :class:`DataNotFoundError` naming every place looked at and how to get the data.
    """
    layout = _layout(num_classes)
    root = as_path("root", root)
    needed = (*layout.train_files, *layout.test_files, layout.meta_file)
    candidates = [root / layout.dirname]
    if root.name == layout.dirname or (root / layout.meta_file).is_file():
        candidates.append(root)
    problems: list[str] = []
    for cand in candidates:
        missing = [name for name in needed if not (cand / name).is_file()]
        if not missing:
            return {
                "train": tuple(cand / name for name in layout.train_files),
                "test": tuple(cand / name for name in layout.test_files),
                "meta": (cand / layout.meta_file,),
            }
        if not cand.is_dir():
            problems.append(f"  - {cand}: no such directory")
        else:
            problems.append(f"  - {cand}: missing {', '.join(missing)}")
    hint = ""
    archive = root / layout.archive
    if archive.is_file():
        hint = (
            f"\nThe archive {archive} is there but not extracted: run "
            f"`tar -xzf {archive} -C {root}` (or pass download=True, which extracts it)."
        )
    raise DataNotFoundError(
        f"CIFAR-{num_classes} not found. Looked for {', '.join(needed)} in:\n"
        + "\n".join(problems)
        + hint
        + "\n"
        + _cifar_how_to_get(root, layout, num_classes),
        searched=candidates,
    )


def download_cifar(root: str | Path, num_classes: int = 10) -> None:
    """``torchvision.datasets.CIFAR10/100(root, download=True)``: fetch, check and extract.

    torchvision downloads the official archive and verifies its md5 (or only verifies the files
    if they are already there), then extracts it into ``root``.
    """
    import torchvision.datasets

    layout = _layout(num_classes)
    root = as_path("root", root)
    root.mkdir(parents=True, exist_ok=True)
    getattr(torchvision.datasets, layout.tv_class)(root=str(root), train=True, download=True)


def read_cifar(root: str | Path, num_classes: int = 10, *, download: bool = False) -> ImageArrays:
    """Read CIFAR-10 or CIFAR-100 from the official python-pickle release.

    Format (torchvision's on-disk layout, i.e. the extracted official ``*-python.tar.gz``):

    * CIFAR-10: ``root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``.
      Each batch is a pickled dict with ``b"data"`` (uint8 ``(10000, 3072)``; a row is the red,
      green and blue 32x32 planes in turn, each row-major, i.e. CHW) and ``b"labels"``;
      ``batches.meta`` holds ``b"label_names"``. Train = batches 1..5 concatenated in order.
    * CIFAR-100: ``root/cifar-100-python/{train, test, meta}`` with ``b"data"``,
      ``b"fine_labels"`` and ``b"coarse_labels"``; ``meta`` holds ``b"fine_label_names"``.
      The 100 *fine* labels are used (as in the paper and torchvision's ``CIFAR100``).

    ``root`` may also be the ``cifar-*`` folder itself. The pickles are read directly (~1 s for
    all of CIFAR-10), not through torchvision's per-item dataset. With ``download=True``,
    ``torchvision.datasets.CIFAR10/100(root, download=True)`` is called first (it downloads and
    verifies the archive, or only verifies the files if they are already there).

    Paper use: CIFAR-10 and CIFAR-100 at their native 32x32 (Supplement I.2).

    Returns train ``(50000, 32, 32, 3)`` and test ``(10000, 32, 32, 3)`` uint8 arrays, int64
    labels, and ``classes`` from the meta file, in label order.

    Raises:
        ValueError: ``num_classes`` not in {10, 100}, or a file is not in the expected format
            (:class:`CorruptDataError` if it is no readable pickle), naming the file.
        DataNotFoundError: the files are not there; the message says where it looked and how
            to download them.
    """
    layout = _layout(num_classes)
    if not isinstance(download, bool):
        raise ValueError(f"download must be True or False; got {download!r}")
    root = as_path("root", root)
    if download:
        download_cifar(root, num_classes)
    files = cifar_files(root, num_classes)
    folder = files["meta"][0].parent

    train = [_read_cifar_batch(path, layout.label_key) for path in files["train"]]
    test = [_read_cifar_batch(path, layout.label_key) for path in files["test"]]
    meta_path = files["meta"][0]
    names = _get(_unpickle(meta_path), layout.names_key, meta_path)
    classes = tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)
    if len(classes) != num_classes:
        raise ValueError(
            f"{meta_path}: {layout.names_key!r} has {len(classes)} names, expected {num_classes}"
        )
    train_images = np.concatenate([b[0] for b in train])
    train_labels = np.concatenate([b[1] for b in train])
    test_images = np.concatenate([b[0] for b in test])
    test_labels = np.concatenate([b[1] for b in test])
    for split, labels in (("train", train_labels), ("test", test_labels)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f"{folder}: {split} {layout.label_key!r} outside [0, {num_classes}): "
                f"[{labels.min()}, {labels.max()}]"
            )
    return ImageArrays(train_images, train_labels, test_images, test_labels, classes)
