"""Data is checked before it is cached: damaged archives, missing classes, wrong counts, stale
cache entries. Small fakes in the real on-disk formats (ImageFolder PNGs, tar.gz, the
TinyImageNet zip, CIFAR pickles); the expected counts are shrunk to the fakes' size."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_data_sources import TINY_WNIDS, write_fake_cifar10, write_fake_tiny_zip

from fisherlab.data import CorruptDataError, load_arrays
from fisherlab.data import expected as expected_mod
from fisherlab.data.expected import CIFAR10_CLASSES, Expected
from fisherlab.data.imagefolder import read_imagefolder, read_imagefolder_archive
from fisherlab.data.sources import prepare_tinyimagenet, read_tinyimagenet

TRAIN_PER_CLASS, TEST_PER_CLASS = 3, 2


@pytest.fixture(autouse=True)
def small_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private cache, and expected counts the size of the fakes below."""
    monkeypatch.setenv("FISHERLAB_CACHE", str(tmp_path / "cache"))
    per_class = {"train": TRAIN_PER_CLASS, "test": TEST_PER_CLASS}
    monkeypatch.setitem(expected_mod.EXPECTED, "cifar10", Expected(10, per_class, CIFAR10_CLASSES))
    monkeypatch.setitem(expected_mod.EXPECTED, "tinyimagenet", Expected(3, per_class))


def write_imagefolder(root: Path, classes: tuple[str, ...] = CIFAR10_CLASSES) -> Path:
    """``root/{train,test}/<class>/<k>.png``: random 4x4 RGB images, 3 train and 2 test each."""
    rng = np.random.default_rng(0)
    for split, n in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for k in range(n):
                pixels = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{k}.png")
    return root


def tar_bytes(folder: Path) -> bytes:
    """An uncompressed tar of ``folder``'s train/ and test/ at its top, as the real archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for split in ("train", "test"):
            tar.add(folder / split, arcname=split)
    return buf.getvalue()


def write_tarball(tmp_path: Path) -> Path:
    archive = tmp_path / "data" / "cifar10-jpeg.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(gzip.compress(tar_bytes(write_imagefolder(tmp_path / "src"))))
    return archive


def rewrite_keeping_stat(path: Path, data: bytes) -> None:
    """Replace the bytes of ``path`` but keep its size (if equal) and mtime, as bit rot would."""
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def assert_loads_whole(data_root: Path) -> None:
    arrays = load_arrays("cifar10", str(data_root))
    assert arrays.classes == CIFAR10_CLASSES
    assert np.bincount(arrays.train_labels).tolist() == [TRAIN_PER_CLASS] * 10
    assert np.bincount(arrays.test_labels).tolist() == [TEST_PER_CLASS] * 10


def cached_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_corrupted_archive_is_named_and_unpacked_afresh_once_repaired(tmp_path: Path) -> None:
    archive = write_tarball(tmp_path)
    good = archive.read_bytes()
    bad = bytearray(good)
    middle = len(bad) // 2
    bad[middle : middle + 32] = bytes(b ^ 0xFF for b in bad[middle : middle + 32])
    rewrite_keeping_stat(archive, bytes(bad))
    with pytest.raises(CorruptDataError, match="corrupt") as err:
        load_arrays("cifar10", str(archive.parent))
    assert str(archive) in str(err.value)
    assert cached_files(tmp_path) == []  # nothing cached, nothing unpacked or marked done
    rewrite_keeping_stat(archive, good)  # repaired: same size, same mtime
    assert_loads_whole(archive.parent)


def test_crc_error_in_archive_is_refused(tmp_path: Path) -> None:
    """Members all intact, but the gzip CRC-32 does not match: tarfile alone never reads it."""
    archive = write_tarball(tmp_path)
    data = bytearray(archive.read_bytes())
    data[-8] ^= 0x01  # first byte of the gzip trailer's CRC-32
    archive.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="corrupt") as err:
        load_arrays("cifar10", str(archive.parent))
    assert str(archive) in str(err.value)


def test_damaged_tar_header_is_not_read_as_a_short_dataset(tmp_path: Path) -> None:
    """A damaged header ends tarfile's listing silently: the rest (truck, ...) would be lost."""
    archive = write_tarball(tmp_path)
    raw = bytearray(gzip.decompress(archive.read_bytes()))
    with tarfile.open(fileobj=io.BytesIO(bytes(raw))) as tar:
        member = next(m for m in tar.getmembers() if m.name == "test/horse/0.png")
    raw[member.offset + 148 : member.offset + 156] = b"garbage!"  # the header's checksum field
    archive.write_bytes(gzip.compress(bytes(raw)))  # a valid gzip of a damaged tar
    with pytest.raises(CorruptDataError, match="corrupt") as err:
        load_arrays("cifar10", str(archive.parent))
    assert str(archive) in str(err.value)


def test_truncated_archive_is_named(tmp_path: Path) -> None:
    archive = write_tarball(tmp_path)
    good = archive.read_bytes()
    archive.write_bytes(good[: len(good) * 6 // 10])
    with pytest.raises(CorruptDataError, match="truncated") as err:
        load_arrays("cifar10", str(archive.parent))
    assert str(archive) in str(err.value)
    archive.write_bytes(good)
    assert_loads_whole(archive.parent)


def test_archive_reads_exactly_as_its_unpacked_folder(tmp_path: Path) -> None:
    """Same classes, order and pixels; nested folders walked, hidden ones skipped in both."""
    root = write_imagefolder(tmp_path / "src")
    nested = np.full((4, 4, 3), 9, dtype=np.uint8)
    (root / "train" / "cat" / "sub").mkdir()
    Image.fromarray(nested).save(root / "train" / "cat" / "sub" / "0.png")
    (root / "train" / "dog" / ".ipynb_checkpoints").mkdir()
    Image.fromarray(nested).save(root / "train" / "dog" / ".ipynb_checkpoints" / "0.png")
    (root / "test" / "dog" / "notes.txt").write_text("not an image")
    archive = tmp_path / "packed.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="cifar10")  # one folder down, as many archives are
    folder, packed = read_imagefolder(root), read_imagefolder_archive(archive)
    assert packed.classes == folder.classes == CIFAR10_CLASSES
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(packed, field), getattr(folder, field))
    cat = CIFAR10_CLASSES.index("cat")
    assert np.bincount(folder.train_labels)[cat] == TRAIN_PER_CLASS + 1  # sub/0.png counts
    assert np.bincount(folder.train_labels)[cat + 2] == TRAIN_PER_CLASS  # dog: hidden skipped
    np.testing.assert_array_equal(folder.train_images[(cat + 1) * TRAIN_PER_CLASS], nested)


def test_missing_class_folder_is_named(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "cifar")
    shutil.rmtree(root / "train" / "truck")
    shutil.rmtree(root / "test" / "truck")
    with pytest.raises(CorruptDataError) as err:
        load_arrays("cifar10", str(root))
    assert f"{root / 'train'}: 9 classes, expected 10 (missing: truck)" in str(err.value)
    assert cached_files(tmp_path) == []


def test_wrong_counts_are_named(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "cifar")
    (root / "test" / "cat" / "1.png").unlink()
    with pytest.raises(CorruptDataError) as err:
        load_arrays("cifar10", str(root))
    msg = str(err.value)
    assert f"{root / 'test'}: test split has 19 images, expected 20" in msg
    assert "off: cat 1" in msg


def test_wrong_counts_in_cifar_pickles_name_the_batch_files(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path / "pickles")  # 15 train / 4 test images, random labels
    with pytest.raises(CorruptDataError, match="train split has 15 images, expected 30") as err:
        load_arrays("cifar10", str(tmp_path / "pickles"))
    assert "cifar-10-batches-py/{data_batch_1," in str(err.value)


def test_stale_cache_is_rebuilt_after_restoring_a_class_folder(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "folder", classes=("a", "b", "c"))
    for split in ("train", "test"):
        (root / split / "c").rename(tmp_path / f"{split}-c")
    assert load_arrays("imagefolder", str(root)).classes == ("a", "b")
    for split in ("train", "test"):
        (tmp_path / f"{split}-c").rename(root / split / "c")
    full = load_arrays("imagefolder", str(root))
    assert full.classes == ("a", "b", "c") and len(full.train_labels) == 3 * TRAIN_PER_CLASS

    new_pixels = np.full((4, 4, 3), 7, dtype=np.uint8)  # same name, new content
    Image.fromarray(new_pixels).save(root / "train" / "a" / "0.png")
    np.testing.assert_array_equal(load_arrays("imagefolder", str(root)).train_images[0], new_pixels)


def test_imagefolder_refuses_empty_or_absent_test_classes(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "folder", classes=("a", "b"))
    for png in (root / "test" / "b").iterdir():
        png.unlink()
    with pytest.raises(CorruptDataError, match="class folder holds no") as err:
        load_arrays("imagefolder", str(root))
    assert str(root / "test" / "b") in str(err.value)
    (root / "test" / "b").rmdir()
    with pytest.raises(CorruptDataError, match=r"missing: b") as err:
        load_arrays("imagefolder", str(root))
    assert str(root / "test") in str(err.value)


def test_tinyimagenet_zip_with_crc_error_is_named_and_not_marked(tmp_path: Path) -> None:
    zpath = write_fake_tiny_zip(tmp_path / "tiny-imagenet-200.zip")
    good = zpath.read_bytes()
    with zipfile.ZipFile(zpath) as zf:
        info = zf.getinfo(f"tiny-imagenet-200/train/{TINY_WNIDS[0]}/images/{TINY_WNIDS[0]}_1.JPEG")
    data_at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 100
    bad = bytearray(good)
    bad[data_at] ^= 0xFF  # stored member: the bytes change, its CRC-32 no longer matches
    zpath.write_bytes(bytes(bad))
    dest = tmp_path / "prepared"
    with pytest.raises(CorruptDataError, match="corrupt zip") as err:
        prepare_tinyimagenet(zpath, dest)
    assert str(zpath) in str(err.value)
    assert not (dest / "fisherlab_prepared.json").exists()
    zpath.write_bytes(good)
    read_tinyimagenet(prepare_tinyimagenet(zpath, dest))


def test_incomplete_tinyimagenet_release_is_refused_before_converting(tmp_path: Path) -> None:
    zpath = write_fake_tiny_zip(tmp_path / "tiny-imagenet-200.zip")
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(tmp_path)
    release = tmp_path / "tiny-imagenet-200"
    wnid = TINY_WNIDS[1]
    (release / "train" / wnid / "images" / f"{wnid}_2.JPEG").unlink()
    with pytest.raises(CorruptDataError, match="train split has 8 images, expected 9") as err:
        prepare_tinyimagenet(release, tmp_path / "prepared")
    assert f"{release}{os.sep}train/<wnid>/images" in str(err.value)
    assert f"off: {wnid} 2" in str(err.value)
    assert not (tmp_path / "prepared" / "train").exists()
