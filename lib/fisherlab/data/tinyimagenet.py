"""TinyImageNet: the official release converted once to a 32x32 PNG ImageFolder, then read.

The official ``tiny-imagenet-200.zip`` (64x64 JPEGs; the labelled val split serves as the test
set) is converted by :func:`prepare_tinyimagenet` and read by :func:`read_tinyimagenet`.
Paper: TinyImageNet at 32x32 (Jastrzebski et al., 2021, Supplement I.2).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

from fisherlab.data.arrays import (
    CorruptDataError,
    DataNotFoundError,
    ImageArrays,
    as_path,
    check_int,
)
from fisherlab.data.expected import check_counts
from fisherlab.data.imagefolder import is_image, read_imagefolder

__all__ = [
    "TINYIMAGENET_URL",
    "prepare_tinyimagenet",
    "prepared_folder",
    "read_tinyimagenet",
    "tinyimagenet_prepared_dirname",
]

TINYIMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"

#: Marker written last by :func:`prepare_tinyimagenet`; its presence means "conversion complete".
_TINY_MARKER = "fisherlab_prepared.json"
_TINY_STAGING = ".fisherlab-partial"


def tinyimagenet_prepared_dirname(image_size: int = 32) -> str:
    """Folder name suggested for a prepared copy, e.g. ``tiny-imagenet-200-32px``."""
    return f"tiny-imagenet-200-{image_size}px"


class _RawTiny:
    """Read-only access to the official release, as a zip or as an extracted folder."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self._zip: zipfile.ZipFile | None = None
        self._dirs: dict[str, list[str]] = {}
        if source.is_file():
            try:
                self._zip = zipfile.ZipFile(source)
            except zipfile.BadZipFile as exc:
                raise CorruptDataError(
                    f"{source}: not a readable zip file, corrupt or truncated ({exc})"
                ) from exc
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
            tops = sorted(
                (n[: -len("wnids.txt")] for n in names if n.rsplit("/", 1)[-1] == "wnids.txt"),
                key=len,
            )
            if not tops:
                raise DataNotFoundError(
                    f"{source}: zip holds no wnids.txt; expected the official "
                    f"tiny-imagenet-200.zip ({TINYIMAGENET_URL})",
                    searched=[source],
                )
            self.prefix = tops[0]
            for n in names:
                if n.startswith(self.prefix):
                    parent, _, base = n[len(self.prefix) :].rpartition("/")
                    self._dirs.setdefault(parent, []).append(base)
            self.where = f"{source}:{self.prefix}"
        else:
            self.prefix = ""
            self.where = f"{source}{os.sep}"

    def read(self, rel: str) -> bytes:
        if self._zip is not None:
            try:
                return self._zip.read(self.prefix + rel)
            except KeyError:
                raise FileNotFoundError(f"{self.where}{rel}") from None
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # e.g. "Bad CRC-32"
                raise CorruptDataError(
                    f"{self.source}: corrupt zip archive, {self.prefix}{rel} unreadable ({exc}); "
                    f"download it again from {TINYIMAGENET_URL}"
                ) from exc
        return (self.source / rel).read_bytes()

    def exists(self, rel: str) -> bool:
        if self._zip is not None:
            parent, _, base = rel.rpartition("/")
            return base in self._dirs.get(parent, ())
        return (self.source / rel).is_file()

    def listdir(self, rel: str) -> list[str]:
        """File names directly inside folder ``rel`` (sorted); empty if absent."""
        if self._zip is not None:
            return sorted(self._dirs.get(rel, []))
        folder = self.source / rel
        if not folder.is_dir():
            return []
        return sorted(e.name for e in os.scandir(folder) if e.is_file())

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> _RawTiny:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _find_raw_tiny(path: Path) -> Path | None:
    """The official release (zip or extracted ``tiny-imagenet-200`` folder) at/inside ``path``."""
    if path.is_file():
        return path if zipfile.is_zipfile(path) else None
    for cand in (path, path / "tiny-imagenet-200"):
        if (cand / "wnids.txt").is_file() and (cand / "val" / "val_annotations.txt").is_file():
            return cand
    zipped = path / "tiny-imagenet-200.zip"
    if zipped.is_file():
        return zipped
    return None


def _tiny_jobs(raw: _RawTiny) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(wnids, [(source relpath, split, wnid)]) after checking the release is complete.

    Complete means: every wnid has training images, every val image is annotated once with a
    known wnid, and the classes and counts are the release's (:data:`EXPECTED`).
    """
    if not raw.exists("wnids.txt"):
        raise DataNotFoundError(
            f"{raw.where}: no wnids.txt; expected the official TinyImageNet layout "
            f"(tiny-imagenet-200/{{wnids.txt, train/, val/}}) from {TINYIMAGENET_URL}",
            searched=[raw.source],
        )
    wnids = [w.strip() for w in raw.read("wnids.txt").decode().splitlines() if w.strip()]
    if not wnids or len(set(wnids)) != len(wnids):
        raise CorruptDataError(f"{raw.where}wnids.txt: empty or has duplicate wnids")
    jobs: list[tuple[str, str, str]] = []
    for wnid in wnids:
        folder = f"train/{wnid}/images"
        names = [n for n in raw.listdir(folder) if is_image(n)]
        if not names:
            raise CorruptDataError(f"{raw.where}{folder}: no training images for class {wnid}")
        jobs.extend((f"{folder}/{n}", "train", wnid) for n in names)
    ann_rel = "val/val_annotations.txt"
    if not raw.exists(ann_rel):
        raise CorruptDataError(f"{raw.where}: missing {ann_rel} (labels of the validation images)")
    known = set(wnids)
    seen: set[str] = set()
    for lineno, line in enumerate(raw.read(ann_rel).decode().splitlines(), 1):
        if not line.strip():
            continue
        # Official format: "<file>\t<wnid>\t<x0>\t<y0>\t<x1>\t<y1>" (bounding box ignored).
        fields = line.split("\t")
        if len(fields) < 2:
            raise CorruptDataError(f"{raw.where}{ann_rel}:{lineno}: expected tab-separated fields")
        fname, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in known:
            raise CorruptDataError(f"{raw.where}{ann_rel}:{lineno}: wnid {wnid} not in wnids.txt")
        if not raw.exists(f"val/images/{fname}"):
            raise CorruptDataError(f"{raw.where}{ann_rel}:{lineno}: val/images/{fname} is missing")
        if fname in seen:
            raise CorruptDataError(f"{raw.where}{ann_rel}:{lineno}: {fname} annotated twice")
        seen.add(fname)
        jobs.append((f"val/images/{fname}", "test", wnid))
    unlabelled = [n for n in raw.listdir("val/images") if is_image(n) and n not in seen]
    if unlabelled:
        raise CorruptDataError(
            f"{raw.where}val/images: {len(unlabelled)} images lack an annotation in "
            f"{ann_rel} (e.g. {unlabelled[0]})"
        )
    if not seen:
        raise CorruptDataError(f"{raw.where}{ann_rel}: no annotations")
    counts = {split: [0] * len(wnids) for split in ("train", "test")}
    index = {wnid: i for i, wnid in enumerate(wnids)}
    for _, split, wnid in jobs:
        counts[split][index[wnid]] += 1
    where = {"train": f"{raw.where}train/<wnid>/images", "test": f"{raw.where}{ann_rel}"}
    check_counts("tinyimagenet", wnids, counts, where)
    return wnids, jobs


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((folder / _TINY_MARKER).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def prepare_tinyimagenet(source: str | Path, dest: str | Path, *, image_size: int = 32) -> Path:
    """Convert the official TinyImageNet release to a ``image_size`` px PNG ImageFolder.

    ``source`` is the official ``tiny-imagenet-200.zip`` (read in place, no extraction needed)
    or its extracted folder ``tiny-imagenet-200/`` (or a folder containing either). Official
    layout: ``wnids.txt`` (the 200 class ids), ``words.txt`` (id -> words),
    ``train/<wnid>/images/<wnid>_<k>.JPEG`` (500 per class, 64x64) and ``val/images/val_<k>.JPEG``
    (10,000) labelled by ``val/val_annotations.txt``, whose tab-separated lines are
    ``file  wnid  x0  y0  x1  y1``. The official ``test/`` split has no labels and is not used;
    as is usual (and as in the paper), the labelled val split serves as the test set.

    Writes ``dest/train/<wnid>/<stem>.png`` (100,000) and ``dest/test/<wnid>/<stem>.png``
    (10,000), plus copies of ``wnids.txt``/``words.txt`` and a ``fisherlab_prepared.json``
    marker written last. Images are converted to RGB (some originals are greyscale) and resized
    from 64x64 with Pillow's antialiased *bilinear* filter (``Image.Resampling.BILINEAR``, whose
    kernel widens with the downscale factor; the same as ``torchvision.transforms.Resize`` on
    PIL images), and stored losslessly as PNG. Paper: TinyImageNet at 32x32 (Supplement I.2).

    Idempotent: if ``dest`` already holds a completed conversion at ``image_size`` it returns
    at once. The work goes to ``dest/.fisherlab-partial`` and is moved into place at the end, so
    an interrupted run leaves no half-written ``train``/``test``. Returns ``dest``.

    Raises:
        ValueError: bad ``image_size``; ``dest`` holds a conversion at another size or
            ``train``/``test`` folders not made by this function.
        CorruptDataError (a ValueError): the release is damaged (a bad zip, an unreadable
            image) or incomplete (a class, image or annotation missing; not 200 classes x 500
            train / 50 val images); nothing is marked prepared then.
        DataNotFoundError: no release found at ``source``.
    """
    from PIL import Image

    image_size = check_int("image_size", image_size, 1)
    source = as_path("source", source)
    dest = as_path("dest", dest)

    marker = _read_marker(dest)
    if marker is not None:
        if marker.get("image_size") == image_size:
            return dest
        raise ValueError(
            f"{dest} already holds TinyImageNet prepared at {marker.get('image_size')} px, not "
            f"image_size={image_size}; choose another dest, e.g. "
            f"{dest.parent / tinyimagenet_prepared_dirname(image_size)}"
        )
    clash = [dest / s for s in ("train", "test") if (dest / s).exists()]
    if clash:
        raise ValueError(
            f"{dest} has {' and '.join(str(c) for c in clash)} but no {_TINY_MARKER}: not a "
            f"completed prepare_tinyimagenet output. Remove them or choose another dest."
        )
    found = _find_raw_tiny(source)
    if found is None:
        raise DataNotFoundError(
            f"TinyImageNet release not found at {source} (looked for the zip file itself, "
            f"{source / 'wnids.txt'}, {source / 'tiny-imagenet-200' / 'wnids.txt'} and "
            f"{source / 'tiny-imagenet-200.zip'}). Download the official zip: "
            f"`curl -LO {TINYIMAGENET_URL}`.",
            searched=[source, source / "tiny-imagenet-200", source / "tiny-imagenet-200.zip"],
        )

    staging = dest / _TINY_STAGING
    with _RawTiny(found) as raw:
        wnids, jobs = _tiny_jobs(raw)
        if staging.exists():
            shutil.rmtree(staging)
        for split in ("train", "test"):
            for wnid in wnids:
                (staging / split / wnid).mkdir(parents=True, exist_ok=True)
        counts = {"train": 0, "test": 0}
        for rel, split, wnid in jobs:
            try:
                with Image.open(io.BytesIO(raw.read(rel))) as im:
                    im = im.convert("RGB")
                    if im.size != (image_size, image_size):
                        im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
                    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                    im.save(staging / split / wnid / f"{stem}.png", format="PNG")
            except OSError as exc:
                raise CorruptDataError(f"{raw.where}{rel}: cannot convert ({exc})") from exc
            counts[split] += 1
        extras = {name: raw.read(name) for name in ("wnids.txt", "words.txt") if raw.exists(name)}
        where = raw.where

    for name, data in extras.items():
        (dest / name).write_bytes(data)
    for split in ("train", "test"):
        (staging / split).rename(dest / split)
    shutil.rmtree(staging)
    info = {
        "format": "fisherlab tinyimagenet imagefolder",
        "image_size": image_size,
        "resample": "PIL Image.Resampling.BILINEAR (antialiased)",
        "source": where,
        "num_classes": len(wnids),
        "num_train": counts["train"],
        "num_test": counts["test"],
        "test_split": "official val (val/val_annotations.txt)",
    }
    tmp = dest / (_TINY_MARKER + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(dest / _TINY_MARKER)
    return dest


def read_tinyimagenet(root: str | Path, *, image_size: int = 32) -> ImageArrays:
    """Read TinyImageNet prepared by :func:`prepare_tinyimagenet` (PNG ImageFolder).

    ``root`` is the prepared folder itself or a folder containing
    ``tiny-imagenet-200-<image_size>px`` (:func:`tinyimagenet_prepared_dirname`). Classes are
    the 200 wnids in sorted order (``words.txt`` in the prepared folder maps them to words);
    test = the official val split. Paper: TinyImageNet at 32x32 (Supplement I.2).

    If ``root`` holds only the raw official release (the zip or the extracted folder), this
    raises :class:`DataNotFoundError` with the exact ``prepare_tinyimagenet(...)`` call to run.
    """
    folder = prepared_folder(root, image_size=image_size)
    data = read_imagefolder(folder)
    h, w, _ = data.image_shape
    if (h, w) != (image_size, image_size):
        raise ValueError(
            f"{folder}: images are {w}x{h}, not image_size={image_size}; prepare a copy "
            f"at that size with prepare_tinyimagenet"
        )
    return data


def prepared_folder(root: str | Path, *, image_size: int = 32) -> Path:
    """The prepared TinyImageNet folder :func:`read_tinyimagenet` reads at/under ``root``.

    Raises :class:`DataNotFoundError` naming where it looked, with the exact
    ``prepare_tinyimagenet(...)`` call to run when only the raw release is there.
    """
    image_size = check_int("image_size", image_size, 1)
    root = as_path("root", root)
    candidates = [root, root / tinyimagenet_prepared_dirname(image_size)]
    notes: list[str] = []
    for cand in candidates:
        marker = _read_marker(cand)
        is_raw = (cand / "val" / "val_annotations.txt").is_file()  # official layout has train/
        has_folders = (cand / "train").is_dir() and (cand / "test").is_dir() and not is_raw
        if marker is not None and marker.get("image_size") != image_size:
            notes.append(f"  - {cand}: prepared at {marker.get('image_size')} px, not {image_size}")
            continue
        if marker is not None or has_folders:
            return cand
        notes.append(f"  - {cand}: no prepared TinyImageNet ({_TINY_MARKER}, train/, test/)")

    raw = _find_raw_tiny(root)
    if raw is not None:
        base = root if root.is_dir() and raw != root else root.parent
        dest = base / tinyimagenet_prepared_dirname(image_size)
        call = f"prepare_tinyimagenet({str(raw)!r}, {str(dest)!r}, image_size={image_size})"
        raise DataNotFoundError(
            f"{raw} is the raw TinyImageNet release, which must be converted once before "
            f"reading. Run:\n"
            f"    from fisherlab.data.sources import prepare_tinyimagenet\n"
            f"    {call}\n"
            f"then read_tinyimagenet({str(dest)!r}, image_size={image_size}).\n"
            "Looked in:\n" + "\n".join(notes),
            searched=candidates,
        )
    raise DataNotFoundError(
        "TinyImageNet not found. Looked in:\n"
        + "\n".join(notes)
        + f"\nand for the raw release ({root / 'tiny-imagenet-200.zip'}, "
        f"{root / 'tiny-imagenet-200'}). Download the official zip "
        f"(`curl -LO {TINYIMAGENET_URL}`), then run "
        f"prepare_tinyimagenet('tiny-imagenet-200.zip', "
        f"{str(root / tinyimagenet_prepared_dirname(image_size))!r}, image_size={image_size}).",
        searched=candidates,
    )
