"""ImageFolder datasets (``root/{train,test}/<class>/<image>``), from a folder or a tar archive.

The layout ``torchvision.datasets.ImageFolder`` reads, once per split. It holds the offline
CIFAR-10 JPEG copy (``cifar10-jpeg.tar.gz``, read straight from the archive) and TinyImageNet
after :func:`fisherlab.data.tinyimagenet.prepare_tinyimagenet`; paper: 32x32 images
(Jastrzebski et al., 2021, Supplement I.2). An archive is checked whole (its compression
checksum, tar's end marker) before anything from it is used, and every error names the archive,
folder or file.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import os
import tarfile
import tempfile
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from fisherlab.data.arrays import CorruptDataError, DataNotFoundError, ImageArrays, as_path

__all__ = [
    "IMAGE_EXTENSIONS",
    "extract_tar",
    "is_image",
    "read_imagefolder",
    "read_imagefolder_archive",
    "split_dirs",
]

#: File name endings (case-insensitive) that :func:`read_imagefolder` decodes.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png")

_SPLITS = ("train", "test")
_TAR_BLOCK = 512  # tar ends with two zero blocks of this size; the first ends the listing


def is_image(name: str) -> bool:
    """Whether a file name is one :func:`read_imagefolder` decodes (hidden files never are)."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _class_dirs(split_dir: Path) -> list[str]:
    """Class folder names, sorted as ImageFolder sorts them (hidden folders skipped)."""
    return sorted(
        e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith(".")
    )


def _class_files(class_dir: Path) -> list[Path]:
    """Image files under one class folder, in ImageFolder's order (recursive, sorted walk)."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in sorted(os.walk(class_dir, followlinks=True)):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files.extend(Path(dirpath) / f for f in sorted(filenames) if is_image(f))
    return files


_Decoder = Callable[[bytes], np.ndarray]


@functools.lru_cache(maxsize=1)
def _torchvision_decoder() -> _Decoder | None:
    """``bytes -> (H, W, 3)`` via ``torchvision.io.decode_image``; None if unavailable.

    torchvision 0.29 deprecated its image codecs (in favour of TorchCodec) and may drop them;
    then everything goes through Pillow, which is ~2.5x slower on small JPEGs.
    """
    try:
        import torch
        from torchvision.io import ImageReadMode, decode_image
    except ImportError:  # pragma: no cover - depends on the torchvision version
        return None

    def decode(raw: bytes) -> np.ndarray:
        tensor = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        return decode_image(tensor, ImageReadMode.RGB).permute(1, 2, 0).numpy()

    return decode


def _pillow_decode(raw: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as im:
        return np.asarray(im.convert("RGB"))


def _decode_one(path: Path, shown: Path, fast: _Decoder | None) -> np.ndarray:
    """Decode one JPEG/PNG to ``(H, W, 3)`` uint8 RGB (grey/alpha/CMYK converted)."""
    from PIL import UnidentifiedImageError

    raw = path.read_bytes()
    if not raw:
        raise CorruptDataError(f"{shown}: empty file")
    if fast is not None:
        try:
            return fast(raw)
        except RuntimeError:
            pass  # fall back on Pillow, which knows more exotic variants
    try:
        return _pillow_decode(raw)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CorruptDataError(f"{shown}: cannot decode image ({exc})") from exc


def _decode_files(
    files: Sequence[Path],
    shape: tuple[int, ...] | None,
    ref: Path | None,
    show: Callable[[Path], Path],
) -> tuple[np.ndarray, Path | None]:
    out: np.ndarray | None = None
    if shape is not None:
        out = np.empty((len(files), *shape), dtype=np.uint8)
    fast = _torchvision_decoder()
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The image decoding and encoding capabilities of TorchVision"
        )
        for i, path in enumerate(files):
            arr = _decode_one(path, show(path), fast)
            if out is None:
                out = np.empty((len(files), *arr.shape), dtype=np.uint8)
                ref = show(path)
            elif arr.shape != out.shape[1:]:
                raise CorruptDataError(
                    f"{show(path)}: image is {arr.shape[1]}x{arr.shape[0]} (WxH) but {ref} is "
                    f"{out.shape[2]}x{out.shape[1]}; all images of an ImageFolder must share one "
                    f"size (resize them first; for TinyImageNet use prepare_tinyimagenet)"
                )
            out[i] = arr
    if out is None:
        out = np.empty((0, *(shape or (0, 0, 3))), dtype=np.uint8)
    return out, ref


def split_dirs(root: str | Path) -> dict[str, Path]:
    """``{"train": root/train, "test": root/test}``; :class:`DataNotFoundError` if one is absent."""
    root = as_path("root", root)
    dirs = {split: root / split for split in _SPLITS}
    missing = [d for d in dirs.values() if not d.is_dir()]
    if missing:
        raise DataNotFoundError(
            f"No ImageFolder dataset at {root}: missing "
            + " and ".join(str(d) for d in missing)
            + ".\nExpected root/train/<class>/<image>.{jpg,jpeg,png} and the same under "
            "root/test. For the offline CIFAR-10 copy pass the folder holding "
            "cifar10-jpeg.tar.gz (or the archive itself) to fisherlab.data.load_arrays; for "
            "TinyImageNet run fisherlab.data.sources.prepare_tinyimagenet first.",
            searched=list(dirs.values()),
        )
    return dirs


def read_imagefolder(root: str | Path) -> ImageArrays:
    """Read an ImageFolder dataset ``root/{train,test}/<class>/*.{jpg,jpeg,png}`` into arrays.

    Layout: the one ``torchvision.datasets.ImageFolder`` reads, once for ``root/train`` and once
    for ``root/test``. Labels are indices into the sorted names of the class folders under
    ``root/train`` (ImageFolder's order); ``root/test`` must hold the same class folders. Within
    a class, files come in ImageFolder's order (sorted walk through subfolders). Extensions
    match case-insensitively (``.JPEG`` counts); other files and hidden files/folders
    (``.ipynb_checkpoints``, ``._x.jpg``) are ignored.

    Every image is decoded to RGB (as ImageFolder's default loader does), with
    ``torchvision.io.decode_image`` from in-memory bytes (about 2.5x faster than Pillow for
    small JPEGs, with identical pixels here: all 60k CIFAR-10 JPEGs decode in ~4 s on one
    thread vs ~10 s), falling back on Pillow for anything it cannot decode, or for everything
    if a later torchvision drops its (deprecated since 0.29) image codecs.

    Used for the offline CIFAR-10 JPEG copy and for TinyImageNet after
    :func:`prepare_tinyimagenet` (paper: 32x32 images, Supplement I.2). This reader knows no
    expected counts; ``fisherlab.data.load_arrays`` checks a named dataset's classes and counts.

    Raises:
        DataNotFoundError: ``root/train`` or ``root/test`` is missing.
        CorruptDataError (a ValueError): no class folders; a class folder without images (in
            either split); a class in one split but not the other; images that differ in size;
            a file that cannot be decoded. Each names the folder or file.
    """
    root = as_path("root", root)
    return _read_folder(root, root)


def _read_folder(root: Path, shown: Path) -> ImageArrays:
    """:func:`read_imagefolder` of ``root``, naming paths as if ``root`` were ``shown``."""

    def show(path: Path) -> Path:
        return shown / path.relative_to(root)

    dirs = split_dirs(root)
    classes = _class_dirs(dirs["train"])
    if not classes:
        raise CorruptDataError(f"{show(dirs['train'])}: no class folders")
    test_classes = _class_dirs(dirs["test"])
    unknown = [c for c in test_classes if c not in classes]
    if unknown:
        raise CorruptDataError(
            f"{show(dirs['train'])}: {len(classes)} class folders, none for "
            f"{', '.join(unknown)} which {show(dirs['test'])} has (train classes define the labels)"
        )
    absent = [c for c in classes if c not in test_classes]
    if absent:
        raise CorruptDataError(
            f"{show(dirs['test'])}: {len(test_classes)} class folders, expected the "
            f"{len(classes)} of {show(dirs['train'])} (missing: {', '.join(absent)})"
        )

    shape: tuple[int, ...] | None = None
    ref: Path | None = None
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, split_dir in dirs.items():
        files: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(classes):
            found = _class_files(split_dir / name)
            if not found:
                raise CorruptDataError(
                    f"{show(split_dir / name)}: class folder holds no "
                    f"{'/'.join(IMAGE_EXTENSIONS)} files"
                )
            files.extend(found)
            labels.extend([label] * len(found))
        images, ref = _decode_files(files, shape, ref, show)
        shape = images.shape[1:]
        arrays[split] = images, np.asarray(labels, dtype=np.int64)
    return ImageArrays(*arrays["train"], *arrays["test"], classes=tuple(classes))


#: Leading bytes of the compressed formats a tar archive may come in, and their readers.
_COMPRESSED: tuple[tuple[bytes, Callable[[Path], IO[bytes]]], ...] = (
    (b"\x1f\x8b", lambda p: gzip.open(p, "rb")),
    (b"BZh", lambda p: bz2.open(p, "rb")),
    (b"\xfd7zXZ\x00", lambda p: lzma.open(p, "rb")),
)


def _open_stream(archive: Path) -> IO[bytes]:
    """The archive's tar bytes: decompressed (gzip/bzip2/xz, by magic bytes) or as they are."""
    with open(archive, "rb") as fh:
        magic = fh.read(6)
    for prefix, opener in _COMPRESSED:
        if magic.startswith(prefix):
            return opener(archive)
    return open(archive, "rb")


def _tail_is_end_marker(stream: IO[bytes]) -> bool:
    """Read ``stream`` to its end: True if what is left is tar's zero-block end marker.

    Reading to the end makes the decompressor check the stream's own checksum (gzip: CRC-32
    and length). tarfile ends its listing silently at a damaged header or at a header cut off
    by truncation; both leave other than zero blocks behind it.
    """
    left, clean = 0, True
    while chunk := stream.read(1 << 20):
        left += len(chunk)
        clean = clean and not chunk.strip(b"\0")
    return clean and left >= _TAR_BLOCK


def extract_tar(archive: str | Path, dest: str | Path) -> None:
    """Unpack the tar ``archive`` (plain, .gz, .bz2 or .xz) into the folder ``dest``, checked.

    One streaming pass with tarfile's ``"data"`` filter (no links out, no absolute paths). The
    archive counts as whole only if the decompressor reaches its end without error (its
    checksum holds) and the tar stream ends with its end-of-archive zero blocks. Anything else
    raises :class:`CorruptDataError` naming ``archive`` and saying it is corrupt or truncated;
    ``dest`` may then hold part of the members (extract into a temporary folder).
    """
    archive = as_path("archive", archive)
    advice = "download or copy it again (and compare its sha256 with the published one)"
    try:
        with _open_stream(archive) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            tar.extractall(dest, filter="data")
            whole = _tail_is_end_marker(tar.fileobj)  # type: ignore[arg-type]
    except EOFError as exc:
        raise CorruptDataError(
            f"{archive}: truncated archive (its compressed stream ends early: {exc}); {advice}"
        ) from exc
    except (tarfile.TarError, zlib.error, lzma.LZMAError, gzip.BadGzipFile) as exc:
        raise CorruptDataError(f"{archive}: corrupt archive ({exc}); {advice}") from exc
    except OSError as exc:
        if exc.errno is not None:  # a real I/O error (disk full, permissions), not the data
            raise
        raise CorruptDataError(f"{archive}: corrupt archive ({exc}); {advice}") from exc
    if not whole:
        raise CorruptDataError(
            f"{archive}: corrupt or truncated archive (its tar stream stops at an unreadable "
            f"header instead of the end-of-archive marker); {advice}"
        )


def read_imagefolder_archive(archive: str | Path, scratch: str | Path | None = None) -> ImageArrays:
    """Read an ImageFolder dataset packed in a tar archive (e.g. ``cifar10-jpeg.tar.gz``).

    ``train/`` and ``test/`` may sit at the archive's top or one folder down. The archive is
    unpacked by :func:`extract_tar` (checked whole) into a fresh temporary folder under
    ``scratch`` (default: the system's temporary folder), read as :func:`read_imagefolder`
    reads a folder, and the folder is deleted: no unpacked copy outlives the call, so nothing
    can mark a failed unpacking as done and a repaired archive is always unpacked afresh.
    Errors name the archive; a path inside it is shown as ``<archive>/train/<class>/...``.
    """
    archive = as_path("archive", archive)
    if not archive.is_file():
        raise DataNotFoundError(f"{archive}: no such archive", searched=[archive])
    if scratch is not None:
        Path(scratch).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="unpack-", dir=scratch) as tmp:
        top = Path(tmp)
        extract_tar(archive, top)
        for cand in [top, *sorted(p for p in top.iterdir() if p.is_dir())]:
            if all((cand / split).is_dir() for split in _SPLITS):
                return _read_folder(cand, archive / cand.relative_to(top))
    raise CorruptDataError(
        f"{archive} holds no train/ and test/ folders (looked at its top and one folder down)"
    )
