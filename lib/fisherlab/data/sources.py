"""Where each named dataset is found in a data root, and which reader decodes it.

One :class:`Source` per dataset found: the reader to run, the input whose content keys the
decoded-array cache, and the file or folder to name in errors. The readers live in one module
per on-disk format (``cifar``, ``imagefolder``, ``tinyimagenet``, ``synthetic``); their public
names are re-exported here, so ``from fisherlab.data.sources import prepare_tinyimagenet`` and
the other imports of earlier versions keep working. Paper datasets: CIFAR-10, CIFAR-100 and
TinyImageNet at 32x32 (Jastrzebski et al., 2021, Supplement I.2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fisherlab.data.arrays import CorruptDataError, DataNotFoundError, ImageArrays
from fisherlab.data.cifar import (
    CIFAR10_URL,
    CIFAR100_URL,
    cifar_files,
    download_cifar,
    read_cifar,
)
from fisherlab.data.imagefolder import (
    IMAGE_EXTENSIONS,
    read_imagefolder,
    read_imagefolder_archive,
    split_dirs,
)
from fisherlab.data.synthetic import synthetic
from fisherlab.data.tinyimagenet import (
    TINYIMAGENET_URL,
    prepare_tinyimagenet,
    prepared_folder,
    read_tinyimagenet,
    tinyimagenet_prepared_dirname,
)

__all__ = [
    "CIFAR10_JPEG_TARBALL",
    "CIFAR10_URL",
    "CIFAR100_URL",
    "HOW_TO_GET",
    "IMAGE_EXTENSIONS",
    "TINYIMAGENET_URL",
    "CorruptDataError",
    "DataNotFoundError",
    "ImageArrays",
    "Source",
    "find_source",
    "prepare_tinyimagenet",
    "read_cifar",
    "read_imagefolder",
    "read_tinyimagenet",
    "synthetic",
    "tinyimagenet_prepared_dirname",
]

#: The offline CIFAR-10 copy (ImageFolder of JPEGs in a tar.gz), see ../shared/datasets/README.md.
CIFAR10_JPEG_TARBALL = "cifar10-jpeg.tar.gz"

#: Dataset name -> how to get it, for the "not found" error.
HOW_TO_GET: dict[str, str] = {
    "cifar10": "pass data_options={'download': True} to download it with torchvision, or put "
    f"cifar-10-batches-py/ or {CIFAR10_JPEG_TARBALL} in one of those folders",
    "cifar100": "pass data_options={'download': True} to download it with torchvision, or put "
    "cifar-100-python/ in one of those folders",
    "tinyimagenet": f"download tiny-imagenet-200.zip from {TINYIMAGENET_URL} and run "
    "fisherlab.data.sources.prepare_tinyimagenet(zip_path, Path(data_root) / "
    f"{tinyimagenet_prepared_dirname(32)!r})",
    "imagefolder": "point data_root at a folder holding train/<class>/ and test/<class>/",
}


@dataclass(frozen=True)
class Source:
    """A dataset found on disk: ``read()`` decodes it.

    ``archives`` (hashed) and ``trees`` (files/folders, by name, size and mtime) are the input
    whose content keys the cache; ``reader`` names the decoding in that key. ``where[split]``
    names the file or folder a split comes from, for errors.
    """

    dataset: str
    reader: str
    read: Callable[[], ImageArrays]
    where: Mapping[str, str]
    archives: tuple[Path, ...] = ()
    trees: tuple[Path, ...] = ()


def _cifar_source(dataset: str, root: Path, num_classes: int) -> Source:
    files = cifar_files(root, num_classes)

    def shown(paths: tuple[Path, ...]) -> str:
        if len(paths) == 1:
            return str(paths[0])
        return f"{paths[0].parent}/{{{','.join(p.name for p in paths)}}}"

    return Source(
        dataset,
        "cifar-pickle",
        lambda: read_cifar(root, num_classes),
        {split: shown(files[split]) for split in ("train", "test")},
        trees=tuple(p for paths in files.values() for p in paths),
    )


def _folder_source(dataset: str, folder: Path, read: Callable[[], ImageArrays]) -> Source:
    dirs = split_dirs(folder)
    return Source(
        dataset,
        "imagefolder",
        read,
        {split: str(path) for split, path in dirs.items()},
        trees=tuple(dirs.values()),
    )


def _archive_source(dataset: str, archive: Path) -> Source:
    return Source(
        dataset,
        "imagefolder-archive",
        lambda: read_imagefolder_archive(archive),
        {split: f"{split}/ in {archive}" for split in ("train", "test")},
        archives=(archive,),
    )


def find_source(dataset: str, root: Path, *, download: bool = False) -> Source | None:
    """The :class:`Source` of ``dataset`` in the existing folder (or file) ``root``, or None.

    * ``cifar10``: ``cifar-10-batches-py/`` (official pickles; with ``download`` fetched by
      torchvision if absent), else ``train/`` + ``test/`` ImageFolder, else the archive
      :data:`CIFAR10_JPEG_TARBALL` in ``root`` (or ``root`` itself if it is a file).
    * ``cifar100``: ``cifar-100-python/`` (``download`` as for CIFAR-10).
    * ``tinyimagenet``: a folder prepared by :func:`prepare_tinyimagenet`, at or in ``root``.
    * ``imagefolder``: ``root/train`` and ``root/test``.

    Raises :class:`DataNotFoundError` when ``root`` holds part of the dataset (naming what is
    missing), ValueError for an unknown ``dataset``.
    """
    if dataset in ("cifar10", "cifar100"):
        num_classes = 10 if dataset == "cifar10" else 100
        pickles = root / ("cifar-10-batches-py" if num_classes == 10 else "cifar-100-python")
        if download and not pickles.is_dir():
            download_cifar(root, num_classes)
        if pickles.is_dir():
            return _cifar_source(dataset, root, num_classes)
        if dataset == "cifar100":
            return None
        if (root / "train").is_dir() and (root / "test").is_dir():
            return _folder_source(dataset, root, lambda: read_imagefolder(root))
        tarball = root if root.is_file() else root / CIFAR10_JPEG_TARBALL
        return _archive_source(dataset, tarball) if tarball.is_file() else None
    if dataset == "tinyimagenet":
        prepared = root / tinyimagenet_prepared_dirname(32)
        if not ((root / "fisherlab_prepared.json").exists() or prepared.is_dir()):
            return None
        folder = prepared_folder(root)
        return _folder_source(dataset, folder, lambda: read_tinyimagenet(folder))
    if dataset == "imagefolder":
        return _folder_source(dataset, root, lambda: read_imagefolder(root))
    raise ValueError(
        f"dataset must be one of cifar10, cifar100, tinyimagenet, imagefolder; got {dataset!r}"
    )
