"""ImageFolder datasets (``root/{train,test}/<class>/<image>``), from a folder or a tar archive.

The layout ``torchvision.datasets.ImageFolder`` reads, once per split. It holds the offline
CIFAR-10 JPEG copy (``cifar10-jpeg.tar.gz``, read straight from the archive) and TinyImageNet
after :func:`fisherlab.data.tinyimagenet.prepare_tinyimagenet`; paper: 32x32 images
(Jastrzebski et al., 2021, Supplement I.2). A folder and an archive go through the same layout
rules (:func:`_layout`) and decoder. An archive is read in memory, never unpacked, and only
after it has been read whole (its compression checksum, tar's end marker). Every error names
the archive, folder or file.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import os
import tarfile
import warnings
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import numpy as np

from fisherlab.data.arrays import CorruptDataError, DataNotFoundError, ImageArrays, as_path

__all__ = [
    "IMAGE_EXTENSIONS",
    "is_image",
    "read_imagefolder",
    "read_imagefolder_archive",
    "read_tar",
    "split_dirs",
]

#: File name endings (case-insensitive) that :func:`read_imagefolder` decodes.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png")

_SPLITS = ("train", "test")
_TAR_BLOCK = 512  # tar ends with two zero blocks of this size; the first ends the listing

#: One split as read: relative file paths in ImageFolder's order, and their labels.
_Split = tuple[list[str], list[int]]


def is_image(name: str) -> bool:
    """Whether a file name is one :func:`read_imagefolder` decodes (hidden files never are)."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _layout(
    dirs: set[str], files: Iterable[str], show: Callable[[str], str]
) -> tuple[list[str], dict[str, _Split]]:
    """Classes and per-split files of a listing, by ImageFolder's rules, checked.

    ``dirs`` and ``files`` are ``/``-separated paths relative to the dataset root, hidden
    names already left out. Classes are the sorted folder names under ``train/``; ``test/``
    must have the same ones. A class's images are every image file below its folder, in the
    order of a sorted walk (by folder path, then file name), as ``ImageFolder`` lists them.
    """
    found = {
        split: sorted(d[len(split) + 1 :] for d in dirs if d.startswith(f"{split}/"))
        for split in _SPLITS
    }
    class_dirs = {split: [d for d in names if "/" not in d] for split, names in found.items()}
    classes = class_dirs["train"]
    if not classes:
        raise CorruptDataError(f"{show('train')}: no class folders")
    unknown = [c for c in class_dirs["test"] if c not in classes]
    if unknown:
        raise CorruptDataError(
            f"{show('train')}: {len(classes)} class folders, none for {', '.join(unknown)} "
            f"which {show('test')} has (train classes define the labels)"
        )
    absent = [c for c in classes if c not in class_dirs["test"]]
    if absent:
        raise CorruptDataError(
            f"{show('test')}: {len(class_dirs['test'])} class folders, expected the "
            f"{len(classes)} of {show('train')} (missing: {', '.join(absent)})"
        )
    members: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for path in files:
        parts = path.split("/")
        if len(parts) >= 3 and parts[0] in _SPLITS and is_image(parts[-1]):
            parent, _, name = path.rpartition("/")
            members.setdefault((parts[0], parts[1]), []).append((parent, name))
    splits: dict[str, _Split] = {}
    for split in _SPLITS:
        paths: list[str] = []
        labels: list[int] = []
        for label, name in enumerate(classes):
            entries = sorted(members.get((split, name), []))
            if not entries:
                raise CorruptDataError(
                    f"{show(f'{split}/{name}')}: class folder holds no "
                    f"{'/'.join(IMAGE_EXTENSIONS)} files"
                )
            paths.extend(f"{parent}/{file}" for parent, file in entries)
            labels.extend([label] * len(entries))
        splits[split] = paths, labels
    return classes, splits


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


def _decode_one(raw: bytes, shown: str, fast: _Decoder | None) -> np.ndarray:
    """Decode one JPEG/PNG to ``(H, W, 3)`` uint8 RGB (grey/alpha/CMYK converted)."""
    from PIL import UnidentifiedImageError

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


def _decode(
    classes: list[str],
    splits: dict[str, _Split],
    read: Callable[[str], bytes],
    show: Callable[[str], str],
) -> ImageArrays:
    """Decode every listed file (``read(path)`` gives its bytes); all must share one size."""
    fast = _torchvision_decoder()
    ref: str | None = None
    shape: tuple[int, ...] | None = None
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The image decoding and encoding capabilities of TorchVision"
        )
        for split, (paths, labels) in splits.items():
            out: np.ndarray | None = None
            for i, path in enumerate(paths):
                arr = _decode_one(read(path), show(path), fast)
                if shape is None:
                    shape, ref = arr.shape, show(path)
                elif arr.shape != shape:
                    raise CorruptDataError(
                        f"{show(path)}: image is {arr.shape[1]}x{arr.shape[0]} (WxH) but {ref} is "
                        f"{shape[1]}x{shape[0]}; all images of an ImageFolder must share one "
                        f"size (resize them first; for TinyImageNet use prepare_tinyimagenet)"
                    )
                if out is None:
                    out = np.empty((len(paths), *shape), dtype=np.uint8)
                out[i] = arr
            assert out is not None  # _layout gives every class at least one file
            arrays[split] = out, np.asarray(labels, dtype=np.int64)
    return ImageArrays(*arrays["train"], *arrays["test"], classes=tuple(classes))


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


def _walk(root: Path) -> tuple[set[str], list[str]]:
    """Folders and files under ``root/{train,test}`` (symlinks followed, hidden names skipped)."""
    dirs: set[str] = set()
    files: list[str] = []
    for split in _SPLITS:
        for dirpath, dirnames, filenames in os.walk(root / split, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(root).as_posix()
            dirs.update(f"{rel}/{d}" for d in dirnames)
            files.extend(f"{rel}/{f}" for f in filenames if not f.startswith("."))
    return dirs, files


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
    split_dirs(root)
    dirs, files = _walk(root)

    def show(rel: str) -> str:
        return str(root / rel)

    classes, splits = _layout(dirs, files, show)
    return _decode(classes, splits, lambda rel: (root / rel).read_bytes(), show)


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


def read_tar(
    archive: str | Path, keep: Callable[[str], bool] = is_image
) -> tuple[set[str], dict[str, bytes]]:
    """The folders and the bytes of the files ``keep`` selects (by name) of a tar ``archive``.

    ``archive`` is a plain, gzip, bzip2 or xz tar, read in one streaming pass and never
    unpacked to disk. Paths are relative (``./`` dropped); hidden names and everything below
    them, links and special files are skipped. The archive counts as whole only if the
    decompressor reaches its end without error (its checksum holds) and the tar stream ends
    with its end-of-archive zero blocks; anything else raises :class:`CorruptDataError` naming
    ``archive`` and saying it is corrupt or truncated.
    """
    archive = as_path("archive", archive)
    advice = "download or copy it again (and compare its sha256 with the published one)"
    dirs: set[str] = set()
    files: dict[str, bytes] = {}
    try:
        with _open_stream(archive) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if not parts or any(p.startswith(".") for p in parts):
                    continue
                dirs.update("/".join(parts[:k]) for k in range(1, len(parts)))
                if member.isdir():
                    dirs.add("/".join(parts))
                elif member.isfile() and keep(parts[-1]):
                    files["/".join(parts)] = tar.extractfile(member).read()  # type: ignore[union-attr]
            whole = _tail_is_end_marker(tar.fileobj)  # type: ignore[arg-type]
    except EOFError as exc:
        raise CorruptDataError(
            f"{archive}: truncated archive (its compressed stream ends early: {exc}); {advice}"
        ) from exc
    except (tarfile.TarError, zlib.error, lzma.LZMAError, gzip.BadGzipFile) as exc:
        raise CorruptDataError(f"{archive}: corrupt archive ({exc}); {advice}") from exc
    except OSError as exc:
        if exc.errno is not None:  # a real I/O error (permissions, ...), not the data
            raise
        raise CorruptDataError(f"{archive}: corrupt archive ({exc}); {advice}") from exc
    if not whole:
        raise CorruptDataError(
            f"{archive}: corrupt or truncated archive (its tar stream stops at an unreadable "
            f"header instead of the end-of-archive marker); {advice}"
        )
    return dirs, files


def read_imagefolder_archive(archive: str | Path) -> ImageArrays:
    """Read an ImageFolder dataset packed in a tar archive (e.g. ``cifar10-jpeg.tar.gz``).

    ``train/`` and ``test/`` may sit at the archive's top or one folder down. The archive is
    read whole by :func:`read_tar` (in memory: ~100 MB for CIFAR-10's JPEGs, nothing written
    to disk, so no unpacked copy can go stale or be mistaken for a complete one), then laid
    out and decoded exactly as :func:`read_imagefolder` does a folder, giving identical arrays.
    Errors name the archive; a path inside it is shown as ``<archive>/train/<class>/...``.
    """
    archive = as_path("archive", archive)
    if not archive.is_file():
        raise DataNotFoundError(f"{archive}: no such archive", searched=[archive])
    dirs, files = read_tar(archive)
    tops = ["", *sorted(f"{d}/" for d in dirs if "/" not in d)]
    top = next((t for t in tops if all(f"{t}{s}" in dirs for s in _SPLITS)), None)
    if top is None:
        raise CorruptDataError(
            f"{archive} holds no train/ and test/ folders (looked at its top and one folder down)"
        )

    def show(rel: str) -> str:
        return f"{archive}/{top}{rel}"

    inner = {d[len(top) :] for d in dirs if d.startswith(top)}
    classes, splits = _layout(inner, [f[len(top) :] for f in files if f.startswith(top)], show)
    return _decode(classes, splits, lambda rel: files[top + rel], show)
