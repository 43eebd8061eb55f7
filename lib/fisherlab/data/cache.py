"""The decoded-array cache: entries keyed by the content of what was read, written whole.

Decoding the 60k CIFAR-10 JPEGs takes about a minute; a cached load is a memory map (the
design's "decode images once into a cached uint8 array"). An entry's key digests the dataset
name, the reader and the *content* of its input: an archive's bytes (sha256), and for files and
folders every relative name, size and modification time under them. A restored class folder, a
replaced image or a repaired archive therefore gets a new key and is decoded afresh, never
served from an entry made from other data. An entry is written into a scratch folder and
renamed into place complete; a half-written entry is never visible.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fisherlab.data.arrays import ImageArrays

__all__ = ["cache_dir", "content_key", "load", "save"]

#: Part of every key: bump it when a reader's output for unchanged input changes.
CACHE_FORMAT = 2
_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")


def cache_dir() -> Path:
    """``$FISHERLAB_CACHE``, else ``~/.cache/fisherlab``."""
    return Path(os.environ.get("FISHERLAB_CACHE", Path.home() / ".cache" / "fisherlab"))


def _tree_lines(path: str, rel: str, out: list[str]) -> None:
    """Append ``rel<TAB>size<TAB>mtime_ns`` per file and ``rel/`` per folder (sorted, no hidden)."""
    if not os.path.isdir(path):
        st = os.stat(path)
        out.append(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}")
        return
    out.append(f"{rel}/")
    with os.scandir(path) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            _tree_lines(entry.path, f"{rel}/{entry.name}", out)
        else:
            st = entry.stat()
            out.append(f"{rel}/{entry.name}\t{st.st_size}\t{st.st_mtime_ns}")


def content_key(
    dataset: str, reader: str, *, archives: Sequence[Path] = (), trees: Sequence[Path] = ()
) -> str:
    """Cache key ``<dataset>-<digest>`` of the input's content.

    ``archives`` are hashed byte for byte (the 19 MB CIFAR-10 archive: 0.08 s); ``trees``
    (files or folders) by the relative name, size and mtime of every file under them, read
    with stat alone (about 2 s for 50k files on the busy 2-core development machine). Where
    the inputs live does not enter the key, so a copy with the same content shares the entry.
    """
    lines = [str(CACHE_FORMAT), dataset, reader]
    for archive in archives:
        with open(archive, "rb") as fh:
            lines.append(f"archive {hashlib.file_digest(fh, 'sha256').hexdigest()}")
    for tree in trees:
        _tree_lines(str(tree), tree.name, lines)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return f"{dataset}-{digest[:16]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh folder under ``cache_dir()/tmp``, deleted on exit.

    Named ``<host>-<pid>-…``; entering removes the folders that processes of this host left
    when they were killed, so an interrupted write never lingers.
    """
    base = cache_dir() / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for old in base.iterdir():
        parts = old.name.split("-")
        if len(parts) >= 3 and "-".join(parts[:-2]) == host and parts[-2].isdigit():
            if not _pid_alive(int(parts[-2])):
                shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{host}-{os.getpid()}-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load(key: str) -> ImageArrays | None:
    """The entry ``key`` memory-mapped, or None if there is none."""
    folder = cache_dir() / key
    if not folder.is_dir():
        return None
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _FIELDS}
    classes = tuple((folder / "classes.txt").read_text().split("\n"))
    return ImageArrays(**arrays, classes=classes)


def save(key: str, arrays: ImageArrays) -> None:
    """Write ``arrays`` as entry ``key``: into a scratch folder, then renamed into place whole.

    If another process stored the same key meanwhile, its entry (same content) is kept.
    """
    with _scratch() as work:
        staged = work / key
        staged.mkdir()
        for name in _FIELDS:
            np.save(staged / f"{name}.npy", getattr(arrays, name))
        (staged / "classes.txt").write_text("\n".join(arrays.classes))
        try:
            staged.rename(cache_dir() / key)
        except OSError:
            if not (cache_dir() / key).is_dir():
                raise
