"""Splits, subsets, label noise, batched augmentation, normalisation, cache; real CIFAR-10."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SHARED_DATASETS

from fisherlab.data import (
    DataNotFoundError,
    augment,
    balanced_subset,
    epoch_order,
    holdout_split,
    label_noise,
    load_arrays,
    load_splits,
    normalize,
)


def test_holdout_split_is_seeded_disjoint_and_complete():
    labels = np.arange(100) % 10
    train, val = holdout_split(labels, 20, seed=1)
    assert len(val) == 20 and len(train) == 80
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(range(100))
    assert np.array_equal(holdout_split(labels, 20, seed=1)[1], val)
    assert not np.array_equal(holdout_split(labels, 20, seed=2)[1], val)


def test_balanced_subset():
    labels = np.repeat(np.arange(10), [50] * 10)
    idx = balanced_subset(labels, 105, seed=0)
    counts = np.bincount(labels[idx], minlength=10)
    assert len(set(idx)) == 105 and counts.max() - counts.min() <= 1
    with pytest.raises(ValueError, match="subset"):
        balanced_subset(labels, 501, seed=0)


def test_label_noise_deterministic_with_realised_fraction():
    labels = np.arange(10_000) % 10
    noisy, mask = label_noise(labels, 0.5, 10, seed=3)
    again, mask2 = label_noise(labels, 0.5, 10, seed=3)
    assert np.array_equal(noisy, again) and np.array_equal(mask, mask2)
    assert np.array_equal(mask, noisy != labels)
    # half redrawn uniformly; a redraw keeps the label with probability 1/10
    assert mask.mean() == pytest.approx(0.5 * 0.9, abs=0.015)
    assert label_noise(labels, 0.0, 10, seed=3)[1].sum() == 0
    with pytest.raises(ValueError, match="label_noise"):
        label_noise(labels, 1.0, 10, seed=0)


def test_augment_is_a_padded_crop_or_its_mirror():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = augment(images, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == images.shape and out.dtype == images.dtype
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    flips = 0
    for p, o in zip(padded, out, strict=True):
        windows = [p[:, i : i + 8, j : j + 8] for i in range(5) for j in range(5)]
        plain = any(torch.equal(o, w) for w in windows)
        mirrored = any(torch.equal(o.flip(2), w) for w in windows)
        assert plain or mirrored
        flips += mirrored and not plain
    assert 10 < flips < 54  # about half are flipped
    same = augment(images, torch.Generator().manual_seed(0), pad=2)
    assert torch.equal(out, same)


def test_normalize_and_epoch_order():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    z = normalize(x, torch.tensor([0.5, 0.5, 0.5]), torch.tensor([0.25, 0.5, 1.0]))
    assert torch.allclose(z[:, 0], torch.tensor(2.0)) and torch.allclose(z[:, 2], torch.tensor(0.5))
    a = epoch_order(50, seed=0, epoch=3)
    assert torch.equal(a, epoch_order(50, seed=0, epoch=3))
    assert sorted(a.tolist()) == list(range(50)) and not torch.equal(a, epoch_order(50, 0, 4))


def test_load_splits_synthetic():
    d = load_splits(
        "synthetic",
        val_size=100,
        subset=200,
        label_noise_fraction=0.25,
        data_options={"train_size": 600, "test_size": 50, "image_size": 8},
    )
    assert d.train_images.shape == (200, 3, 8, 8) and d.train_images.dtype == torch.uint8
    assert d.val_images.shape == (100, 3, 8, 8) and d.test_images.shape == (50, 3, 8, 8)
    assert d.noise_mask.shape == (200,) and 0 < int(d.noise_mask.sum()) < 60
    assert d.num_classes == 10 and d.mean.shape == (3,)


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("FISHERLAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataNotFoundError) as err:
        load_arrays("cifar100", str(tmp_path / "absent"))
    assert str(tmp_path / "absent") in str(err.value) and "download" in str(err.value)


@pytest.mark.cifar
def test_real_cifar10_splits_and_cache(tmp_path, monkeypatch):
    tarball = SHARED_DATASETS / "cifar10-jpeg.tar.gz"
    if not tarball.exists():
        pytest.skip("real CIFAR-10 not available")
    monkeypatch.setenv("FISHERLAB_CACHE", str(tmp_path / "cache"))
    arrays = load_arrays("cifar10", str(SHARED_DATASETS))
    assert arrays.train_images.shape == (50_000, 32, 32, 3)
    assert arrays.test_images.shape == (10_000, 32, 32, 3)
    assert np.bincount(arrays.test_labels).tolist() == [1000] * 10
    d = load_splits("cifar10", str(SHARED_DATASETS), val_size=5000, subset=1000)
    assert d.train_images.shape == (1000, 3, 32, 32) and len(d.val_images) == 5000
    assert torch.bincount(d.train_labels).tolist() == [100] * 10
    assert torch.allclose(d.mean, torch.tensor([0.49, 0.48, 0.45]), atol=0.03)
    # second load comes from the memory-mapped cache
    cached = load_arrays("cifar10", str(SHARED_DATASETS))
    assert isinstance(cached.train_images, np.memmap)
    assert np.array_equal(cached.train_labels, arrays.train_labels)
