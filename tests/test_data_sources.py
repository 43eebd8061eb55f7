"""Tests for fisherlab.data.sources on small fake files written in the real on-disk formats."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fisherlab.data import expected, imagefolder, sources
from fisherlab.data.sources import (
    DataNotFoundError,
    ImageArrays,
    prepare_tinyimagenet,
    read_cifar,
    read_imagefolder,
    read_tinyimagenet,
    synthetic,
)

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared/datasets"
CIFAR10_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Fake CIFAR files: python-2 style pickles (bytes keys, protocol 2) like the official release
# --------------------------------------------------------------------------------------------


def _hwc_to_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) HWC -> the official (N, 3072) rows: R plane, G plane, B plane, row-major."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def _dump(path: Path, obj: dict[bytes, object]) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def _fake_batch(rng: np.random.Generator, n: int, num_classes: int) -> tuple[np.ndarray, list]:
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, num_classes, size=n)]
    return images, labels


def write_fake_cifar10(root: Path, per_batch: int = 3, test_n: int = 4) -> dict[str, object]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(10)
    train_imgs, train_labels = [], []
    for i in range(1, 6):
        imgs, labels = _fake_batch(rng, per_batch, 10)
        _dump(
            folder / f"data_batch_{i}",
            {
                b"batch_label": f"training batch {i} of 5".encode(),
                b"labels": labels,
                b"data": _hwc_to_rows(imgs),
                b"filenames": [f"img_{i}_{k}.png".encode() for k in range(per_batch)],
            },
        )
        train_imgs.append(imgs)
        train_labels += labels
    test_imgs, test_labels = _fake_batch(rng, test_n, 10)
    _dump(
        folder / "test_batch",
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": test_labels,
            b"data": _hwc_to_rows(test_imgs),
            b"filenames": [f"test_{k}.png".encode() for k in range(test_n)],
        },
    )
    _dump(
        folder / "batches.meta",
        {
            b"num_cases_per_batch": per_batch,
            b"label_names": [n.encode() for n in CIFAR10_NAMES],
            b"num_vis": 3072,
        },
    )
    return {
        "train_images": np.concatenate(train_imgs),
        "train_labels": train_labels,
        "test_images": test_imgs,
        "test_labels": test_labels,
    }


def write_fake_cifar100(root: Path) -> dict[str, object]:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(100)
    out: dict[str, object] = {}
    for split, n in (("train", 6), ("test", 4)):
        imgs, fine = _fake_batch(rng, n, 100)
        coarse = [f // 5 for f in fine]
        _dump(
            folder / split,
            {
                b"filenames": [f"{split}_{k}.png".encode() for k in range(n)],
                b"batch_label": f"{split} batch 1 of 1".encode(),
                b"fine_labels": fine,
                b"coarse_labels": coarse,
                b"data": _hwc_to_rows(imgs),
            },
        )
        out[f"{split}_images"], out[f"{split}_labels"] = imgs, fine
    fine_names = [f"fine{k:03d}" for k in range(100)]
    _dump(
        folder / "meta",
        {
            b"fine_label_names": [n.encode() for n in fine_names],
            b"coarse_label_names": [f"coarse{k:02d}".encode() for k in range(20)],
        },
    )
    out["classes"] = tuple(fine_names)
    return out


def test_read_cifar10_round_trip(tmp_path: Path) -> None:
    truth = write_fake_cifar10(tmp_path)
    data = read_cifar(tmp_path, 10)
    assert isinstance(data, ImageArrays)
    assert data.train_images.shape == (15, 32, 32, 3)
    assert data.test_images.shape == (4, 32, 32, 3)
    assert data.train_images.dtype == np.uint8 and data.test_images.dtype == np.uint8
    assert data.train_labels.dtype == np.int64 and data.test_labels.dtype == np.int64
    # exact pixels, batches 1..5 concatenated in order, labels in the same order
    np.testing.assert_array_equal(data.train_images, truth["train_images"])
    np.testing.assert_array_equal(data.test_images, truth["test_images"])
    np.testing.assert_array_equal(data.train_labels, truth["train_labels"])
    np.testing.assert_array_equal(data.test_labels, truth["test_labels"])
    assert data.classes == tuple(CIFAR10_NAMES)
    assert data.num_classes == 10 and data.image_shape == (32, 32, 3)
    assert data.train_images.flags["C_CONTIGUOUS"]


def test_read_cifar_chw_layout_is_transposed_correctly(tmp_path: Path) -> None:
    """Row = 1024 red values, then green, then blue, each plane row-major (h * 32 + w)."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    h, w = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    planes = [h, w, (h + w) % 7 + 200]  # red = row index, green = column, blue = pattern
    row = np.concatenate([p.reshape(-1) for p in planes]).astype(np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _dump(folder / name, {b"data": row[None, :], b"labels": [3]})
    _dump(folder / "batches.meta", {b"label_names": [n.encode() for n in CIFAR10_NAMES]})
    img = read_cifar(tmp_path).train_images[0]
    np.testing.assert_array_equal(img[:, :, 0], h)  # red varies down the rows
    np.testing.assert_array_equal(img[:, :, 1], w)  # green varies along a row
    np.testing.assert_array_equal(img[:, :, 2], (h + w) % 7 + 200)
    assert img[5, 9].tolist() == [5, 9, (5 + 9) % 7 + 200]


def test_read_cifar100_fine_labels(tmp_path: Path) -> None:
    truth = write_fake_cifar100(tmp_path)
    data = read_cifar(tmp_path, num_classes=100)
    assert data.train_images.shape == (6, 32, 32, 3) and data.test_images.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(data.train_images, truth["train_images"])
    np.testing.assert_array_equal(data.test_images, truth["test_images"])
    np.testing.assert_array_equal(data.train_labels, truth["train_labels"])  # fine, not coarse
    np.testing.assert_array_equal(data.test_labels, truth["test_labels"])
    assert data.classes == truth["classes"]
    # the inner folder itself is accepted as root too
    inner = read_cifar(tmp_path / "cifar-100-python", 100)
    np.testing.assert_array_equal(inner.train_images, data.train_images)


def test_read_cifar_missing_says_where_and_how(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as err:
        read_cifar(root, 10)
    msg = str(err.value)
    assert str(root / "cifar-10-batches-py") in msg
    assert "download=True" in msg and sources.CIFAR10_URL in msg
    assert isinstance(err.value, FileNotFoundError)
    assert root / "cifar-10-batches-py" in err.value.searched

    with pytest.raises(DataNotFoundError) as err100:
        read_cifar(root, 100)
    assert str(root / "cifar-100-python") in str(err100.value)
    assert sources.CIFAR100_URL in str(err100.value)


def test_read_cifar_partial_folder_names_missing_files(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DataNotFoundError, match="data_batch_4"):
        read_cifar(tmp_path)


@pytest.mark.parametrize("bad", [0, 20, 1000, True, "10"])
def test_read_cifar_validates_num_classes(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match=r"num_classes.*10.*100"):
        read_cifar(tmp_path, bad)  # type: ignore[arg-type]


def test_read_cifar_download_calls_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets

    calls: list[dict[str, object]] = []

    def fake_cifar10(root: str, train: bool = True, download: bool = False) -> None:
        calls.append({"root": root, "download": download})
        write_fake_cifar10(Path(root))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake_cifar10)
    data = read_cifar(tmp_path / "dl", 10, download=True)
    assert calls == [{"root": str(tmp_path / "dl"), "download": True}]
    assert data.train_images.shape == (15, 32, 32, 3)


# --------------------------------------------------------------------------------------------
# ImageFolder
# --------------------------------------------------------------------------------------------


def _save(path: Path, array: np.ndarray, **kwargs: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def _solid(color: tuple[int, int, int], size: int = 8) -> np.ndarray:
    return np.broadcast_to(np.array(color, dtype=np.uint8), (size, size, 3)).copy()


def test_read_imagefolder_labels_order_and_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    exact = {  # PNG: lossless, checked exactly
        "train/zebra/b.png": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
        "train/zebra/a.png": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
        "train/apple/x.png": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
        "test/zebra/t.png": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
    }
    for rel, arr in exact.items():
        _save(tmp_path / rel, arr)
    _save(tmp_path / "train/mango/0.jpg", _solid((200, 30, 40)), quality=95)
    _save(tmp_path / "train/mango/1.JPEG", _solid((20, 180, 90)), quality=95)
    _save(tmp_path / "test/apple/q.jpeg", _solid((10, 20, 250)), quality=95)
    gray = np.full((8, 8), 77, dtype=np.uint8)  # greyscale file -> RGB, as ImageFolder does
    _save(tmp_path / "test/mango/g.png", gray)
    (tmp_path / "train/mango/notes.txt").write_text("not an image")
    _save(tmp_path / "train/.ipynb_checkpoints/x.png", exact["train/apple/x.png"])  # hidden

    data = read_imagefolder(tmp_path)
    assert data.classes == ("apple", "mango", "zebra")  # sorted folder names
    assert data.train_images.shape == (5, 8, 8, 3) and data.test_images.shape == (3, 8, 8, 3)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    assert data.train_labels.tolist() == [0, 1, 1, 2, 2]
    assert data.test_labels.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(data.train_images[0], exact["train/apple/x.png"])
    np.testing.assert_array_equal(data.train_images[3], exact["train/zebra/a.png"])  # sorted
    np.testing.assert_array_equal(data.train_images[4], exact["train/zebra/b.png"])
    np.testing.assert_array_equal(data.test_images[2], exact["test/zebra/t.png"])
    np.testing.assert_array_equal(data.test_images[1], np.full((8, 8, 3), 77))
    assert np.abs(data.train_images[1].astype(int) - (200, 30, 40)).max() <= 6  # JPEG
    assert np.abs(data.train_images[2].astype(int) - (20, 180, 90)).max() <= 6
    assert np.abs(data.test_images[0].astype(int) - (10, 20, 250)).max() <= 6


def test_read_imagefolder_jpeg_matches_pillow(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for k in range(3):
        _save(tmp_path / f"train/c/{k}.jpg", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    _save(tmp_path / "test/c/0.jpg", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    data = read_imagefolder(tmp_path)
    for k in range(3):
        ref = np.asarray(Image.open(tmp_path / f"train/c/{k}.jpg").convert("RGB")).astype(int)
        assert np.abs(data.train_images[k].astype(int) - ref).max() <= 2


def test_read_imagefolder_pillow_fallback_gives_same_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(2)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            arr = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            _save(tmp_path / f"{split}/{cls}/0.jpg", arr, quality=90)
            _save(tmp_path / f"{split}/{cls}/1.png", arr)
    fast = read_imagefolder(tmp_path)
    monkeypatch.setattr(imagefolder, "_torchvision_decoder", lambda: None)  # codecs removed
    slow = read_imagefolder(tmp_path)
    for field in ("train_images", "test_images", "train_labels", "test_labels"):
        a, b = getattr(fast, field).astype(int), getattr(slow, field).astype(int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 2


def test_read_imagefolder_corrupt_file_named(tmp_path: Path) -> None:
    _save(tmp_path / "train/a/0.png", _solid((1, 2, 3)))
    (tmp_path / "test/a").mkdir(parents=True)
    (tmp_path / "test/a/broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ValueError, match=r"broken\.jpg"):
        read_imagefolder(tmp_path)


def test_read_imagefolder_size_mismatch_names_file(tmp_path: Path) -> None:
    _save(tmp_path / "train/a/0.png", _solid((1, 2, 3), 8))
    _save(tmp_path / "train/b/0.png", _solid((1, 2, 3), 8))
    _save(tmp_path / "test/a/0.png", _solid((1, 2, 3), 8))
    _save(tmp_path / "test/b/odd.png", _solid((1, 2, 3), 9))
    with pytest.raises(ValueError, match=r"odd\.png"):
        read_imagefolder(tmp_path)


def test_read_imagefolder_missing_and_bad_layouts(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        read_imagefolder(tmp_path / "absent")
    assert str(tmp_path / "absent" / "train") in str(err.value)

    _save(tmp_path / "only_train/train/a/0.png", _solid((1, 2, 3)))
    with pytest.raises(DataNotFoundError) as err2:
        read_imagefolder(tmp_path / "only_train")
    assert str(tmp_path / "only_train" / "test") in str(err2.value)

    _save(tmp_path / "extra/train/a/0.png", _solid((1, 2, 3)))
    _save(tmp_path / "extra/test/zzz/0.png", _solid((1, 2, 3)))
    with pytest.raises(ValueError, match="zzz"):
        read_imagefolder(tmp_path / "extra")

    (tmp_path / "empty/train/a").mkdir(parents=True)
    _save(tmp_path / "empty/test/a/0.png", _solid((1, 2, 3)))
    with pytest.raises(ValueError, match="class folder holds no") as err3:
        read_imagefolder(tmp_path / "empty")
    assert str(tmp_path / "empty" / "train" / "a") in str(err3.value)

    (tmp_path / "no_classes/train").mkdir(parents=True)
    (tmp_path / "no_classes/test").mkdir(parents=True)
    with pytest.raises(ValueError, match="no class folders"):
        read_imagefolder(tmp_path / "no_classes")


# --------------------------------------------------------------------------------------------
# TinyImageNet: fake official zip (tiny-imagenet-200/...) with real val_annotations.txt format
# --------------------------------------------------------------------------------------------

TINY_WNIDS = ["n02124075", "n01443537", "n09246464"]  # wnids.txt is not sorted in the release
TINY_COLORS = {"n02124075": (220, 40, 40), "n01443537": (40, 200, 60), "n09246464": (50, 60, 230)}
TINY_VAL = [  # file, wnid, x0, y0, x1, y1
    ("val_0.JPEG", "n01443537", 0, 32, 44, 62),
    ("val_1.JPEG", "n09246464", 52, 37, 63, 63),
    ("val_2.JPEG", "n02124075", 4, 4, 60, 61),
    ("val_3.JPEG", "n01443537", 10, 2, 50, 50),
    ("val_4.JPEG", "n02124075", 0, 0, 63, 63),
    ("val_5.JPEG", "n09246464", 8, 8, 40, 40),
]
TINY_TRAIN_PER_CLASS = 3


@pytest.fixture(autouse=True)
def small_tinyimagenet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake release's size stands in for the real 200 classes x 500 train / 50 val."""
    small = expected.Expected(3, {"train": TINY_TRAIN_PER_CLASS, "test": 2})
    monkeypatch.setitem(expected.EXPECTED, "tinyimagenet", small)


def _jpeg_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _tiny_image(wnid: str, k: int, gray: bool = False) -> np.ndarray:
    arr = _solid(TINY_COLORS[wnid], 64)
    arr[k : k + 4, :, :] = 128  # a small stripe so files differ
    if gray:
        return arr.mean(axis=2).astype(np.uint8)
    return arr


def write_fake_tiny_zip(path: Path) -> Path:
    top = "tiny-imagenet-200/"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(top, "")
        zf.writestr(top + "wnids.txt", "\n".join(TINY_WNIDS) + "\n")
        zf.writestr(
            top + "words.txt",
            "n01443537\tgoldfish, Carassius auratus\nn02124075\tEgyptian cat\n"
            "n09246464\tcliff, drop, drop-off\nn00001740\tentity\n",
        )
        for wnid in TINY_WNIDS:
            boxes = []
            zf.writestr(f"{top}train/{wnid}/images/", "")
            for k in range(TINY_TRAIN_PER_CLASS):
                name = f"{wnid}_{k}.JPEG"
                gray = wnid == "n09246464" and k == 1  # the release has some greyscale JPEGs
                zf.writestr(
                    f"{top}train/{wnid}/images/{name}", _jpeg_bytes(_tiny_image(wnid, k, gray))
                )
                boxes.append(f"{name}\t0\t0\t63\t63")
            zf.writestr(f"{top}train/{wnid}/{wnid}_boxes.txt", "\n".join(boxes) + "\n")
        lines = []
        for k, (name, wnid, *box) in enumerate(TINY_VAL):
            zf.writestr(f"{top}val/images/{name}", _jpeg_bytes(_tiny_image(wnid, 10 + k)))
            lines.append("\t".join([name, wnid, *map(str, box)]))
        zf.writestr(top + "val/val_annotations.txt", "\n".join(lines) + "\n")
        for k in range(2):  # unlabelled official test split: must be ignored
            zf.writestr(f"{top}test/images/test_{k}.JPEG", _jpeg_bytes(_solid((0, 0, 0), 64)))
    return path


def test_prepare_tinyimagenet_from_zip(tmp_path: Path) -> None:
    zpath = write_fake_tiny_zip(tmp_path / "tiny-imagenet-200.zip")
    dest = tmp_path / "prepared"
    assert prepare_tinyimagenet(zpath, dest) == dest

    wnids = sorted(TINY_WNIDS)
    assert sorted(p.name for p in (dest / "train").iterdir()) == wnids
    assert sorted(p.name for p in (dest / "test").iterdir()) == wnids
    for wnid in wnids:
        names = sorted(p.name for p in (dest / "train" / wnid).iterdir())
        assert names == [f"{wnid}_{k}.png" for k in range(TINY_TRAIN_PER_CLASS)]
        expected_val = sorted(n.replace(".JPEG", ".png") for n, w, *_ in TINY_VAL if w == wnid)
        assert sorted(p.name for p in (dest / "test" / wnid).iterdir()) == expected_val
    assert not list(dest.rglob("test_*.png"))  # official unlabelled test split not used
    assert not (dest / ".fisherlab-partial").exists()
    with Image.open(dest / "train" / wnids[0] / f"{wnids[0]}_0.png") as im:
        assert im.size == (32, 32) and im.mode == "RGB" and im.format == "PNG"

    data = read_tinyimagenet(dest)
    assert data.classes == tuple(wnids)
    assert data.train_images.shape == (9, 32, 32, 3) and data.test_images.shape == (6, 32, 32, 3)
    assert data.train_labels.dtype == np.int64
    # labels follow the folders / val_annotations.txt: check by each class's colour
    splits = ((data.train_images, data.train_labels), (data.test_images, data.test_labels))
    for images, labels in splits:
        for img, label in zip(images, labels, strict=True):
            color = np.median(img.reshape(-1, 3), axis=0)
            expected = np.array(TINY_COLORS[wnids[label]])
            if img.std(axis=2).mean() < 1:  # the greyscale training image
                expected = np.full(3, np.mean(TINY_COLORS[wnids[label]]))
            assert np.abs(color - expected).max() <= 8
    val_labels = sorted(wnids.index(w) for _, w, *_ in TINY_VAL)
    assert sorted(data.test_labels.tolist()) == val_labels
    # also found via the conventional subfolder name
    (tmp_path / "holder").mkdir()
    (dest).rename(tmp_path / "holder" / sources.tinyimagenet_prepared_dirname(32))
    again = read_tinyimagenet(tmp_path / "holder")
    np.testing.assert_array_equal(again.train_images, data.train_images)


def test_prepare_tinyimagenet_idempotent_and_folder_source(tmp_path: Path) -> None:
    zpath = write_fake_tiny_zip(tmp_path / "tiny-imagenet-200.zip")
    dest = prepare_tinyimagenet(zpath, tmp_path / "out")
    one_png = next((dest / "train").rglob("*.png"))
    stamps = {p: p.stat().st_mtime_ns for p in (one_png, dest / "fisherlab_prepared.json")}
    time.sleep(0.01)
    assert prepare_tinyimagenet(zpath, dest) == dest  # complete: skipped
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    with pytest.raises(ValueError, match="image_size"):
        prepare_tinyimagenet(zpath, dest, image_size=16)

    extracted = tmp_path / "raw"
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(extracted)
    dest2 = prepare_tinyimagenet(extracted / "tiny-imagenet-200", tmp_path / "out2")
    a, b = read_tinyimagenet(dest), read_tinyimagenet(dest2)
    np.testing.assert_array_equal(a.train_images, b.train_images)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)

    dest16 = prepare_tinyimagenet(extracted, tmp_path / "out16", image_size=16)
    assert read_tinyimagenet(dest16, image_size=16).image_shape == (16, 16, 3)
    with pytest.raises(DataNotFoundError):
        read_tinyimagenet(dest16, image_size=32)


def test_read_tinyimagenet_raw_release_tells_how_to_prepare(tmp_path: Path) -> None:
    write_fake_tiny_zip(tmp_path / "tiny-imagenet-200.zip")
    with pytest.raises(DataNotFoundError) as err:
        read_tinyimagenet(tmp_path)
    msg = str(err.value)
    assert "prepare_tinyimagenet(" in msg and str(tmp_path / "tiny-imagenet-200.zip") in msg

    with zipfile.ZipFile(tmp_path / "tiny-imagenet-200.zip") as zf:
        zf.extractall(tmp_path / "x")
    raw_dir = tmp_path / "x" / "tiny-imagenet-200"  # has train/ and test/ but is not prepared
    for root in (raw_dir, tmp_path / "x"):
        with pytest.raises(DataNotFoundError, match="prepare_tinyimagenet") as err_raw:
            read_tinyimagenet(root)
        assert repr(str(raw_dir)) in str(err_raw.value)

    with pytest.raises(DataNotFoundError) as err2:
        read_tinyimagenet(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err2.value)
    assert sources.TINYIMAGENET_URL in str(err2.value)

    with pytest.raises(DataNotFoundError):
        prepare_tinyimagenet(tmp_path / "empty", tmp_path / "dest")


def test_prepare_tinyimagenet_rejects_bad_annotations(tmp_path: Path) -> None:
    zpath = write_fake_tiny_zip(tmp_path / "tiny-imagenet-200.zip")
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(tmp_path)
    ann = tmp_path / "tiny-imagenet-200/val/val_annotations.txt"
    ann.write_text(ann.read_text() + "val_9.JPEG\tn01443537\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match=r"val_9\.JPEG"):
        prepare_tinyimagenet(tmp_path / "tiny-imagenet-200", tmp_path / "dest")
    assert not (tmp_path / "dest" / "train").exists()
    with pytest.raises(ValueError, match="image_size"):
        prepare_tinyimagenet(zpath, tmp_path / "dest", image_size=0)


# --------------------------------------------------------------------------------------------
# Synthetic
# --------------------------------------------------------------------------------------------


def test_synthetic_shapes_and_determinism() -> None:
    a = synthetic(num_classes=4, train_size=40, test_size=12, image_size=16, channels=3, seed=3)
    b = synthetic(num_classes=4, train_size=40, test_size=12, image_size=16, channels=3, seed=3)
    c = synthetic(num_classes=4, train_size=40, test_size=12, image_size=16, channels=3, seed=4)
    assert a.train_images.shape == (40, 16, 16, 3) and a.test_images.shape == (12, 16, 16, 3)
    assert a.train_images.dtype == np.uint8 and a.train_labels.dtype == np.int64
    assert a.classes == ("class0", "class1", "class2", "class3")
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.train_images, c.train_images)
    assert np.bincount(a.train_labels).tolist() == [10, 10, 10, 10]  # balanced
    d = synthetic(num_classes=4, train_size=40, test_size=30, image_size=16, seed=3)
    np.testing.assert_array_equal(d.train_images, a.train_images)  # test_size doesn't matter
    gray = synthetic(channels=1, image_size=8, train_size=5, test_size=5)
    assert gray.image_shape == (8, 8, 1)


def test_synthetic_is_learnable_but_not_trivial() -> None:
    data = synthetic(num_classes=10, train_size=1000, test_size=500, seed=0)
    x_train = data.train_images.reshape(1000, -1).astype(np.float64)
    x_test = data.test_images.reshape(500, -1).astype(np.float64)
    means = np.stack([x_train[data.train_labels == c].mean(0) for c in range(10)])
    dists = (x_test**2).sum(1)[:, None] - 2 * x_test @ means.T + (means**2).sum(1)[None]
    accuracy = (dists.argmin(1) == data.test_labels).mean()
    assert 0.35 < accuracy < 0.95, accuracy  # chance = 0.1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"train_size": 0}, "train_size"),
        ({"test_size": -1}, "test_size"),
        ({"image_size": 0}, "image_size"),
        ({"channels": 0}, "channels"),
        ({"seed": -1}, "seed"),
        ({"train_size": 2.5}, "train_size"),
    ],
)
def test_synthetic_validates(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        synthetic(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Real CIFAR-10 JPEG copy (a handful of files)
# --------------------------------------------------------------------------------------------


@pytest.mark.cifar
@pytest.mark.skipif(
    not (SHARED_DATASETS / "cifar10-jpeg.tar.gz").is_file(),
    reason="real CIFAR-10 JPEG tarball not available",
)
def test_read_imagefolder_on_real_cifar10_jpegs(tmp_path: Path) -> None:
    per_class = 2
    wanted: dict[tuple[str, str], int] = {}
    with tarfile.open(SHARED_DATASETS / "cifar10-jpeg.tar.gz") as tar:
        members = []
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3:
                continue
            key = (parts[0], parts[1])
            if wanted.get(key, 0) < per_class:
                wanted[key] = wanted.get(key, 0) + 1
                members.append(member)
                tar.extract(member, tmp_path, filter="data")
    data = read_imagefolder(tmp_path)
    assert data.classes == tuple(CIFAR10_NAMES)
    assert data.train_images.shape == (10 * per_class, 32, 32, 3)
    assert data.test_images.shape == (10 * per_class, 32, 32, 3)
    assert data.train_labels.tolist() == [c for c in range(10) for _ in range(per_class)]
    assert data.test_labels.tolist() == data.train_labels.tolist()
    first = sorted((tmp_path / "train" / "airplane").iterdir())[0]
    ref = np.asarray(Image.open(first).convert("RGB")).astype(int)
    assert np.abs(data.train_images[0].astype(int) - ref).max() <= 2
    assert 20 < data.train_images.mean() < 235 and data.train_images.std() > 20
    assert len(members) == 2 * 10 * per_class and os.path.isdir(tmp_path / "test" / "truck")
