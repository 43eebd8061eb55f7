"""Synthetic, class-structured images for smoke runs and tests: deterministic, no files.

Stands in for CIFAR-10 (Jastrzebski et al., 2021, Supplement I.2) where the real data is not
needed: learnable but not trivial, with a train-test gap, at any size.
"""

from __future__ import annotations

import numpy as np

from fisherlab.data.arrays import ImageArrays, check_int

__all__ = ["synthetic"]

_SYNTH_GRID = 4  # side of the coarse noise pattern behind each template (low frequency)
_SYNTH_CHUNK = 2048  # examples generated per step (fixed: part of the determinism contract)


def _upsample_matrix(src: int, dst: int) -> np.ndarray:
    """``(dst, src)`` linear-interpolation weights (corner-aligned)."""
    pos = np.linspace(0.0, src - 1.0, dst)
    lo = np.clip(np.floor(pos).astype(int), 0, src - 1)
    hi = np.minimum(lo + 1, src - 1)
    frac = pos - lo
    m = np.zeros((dst, src))
    np.add.at(m, (np.arange(dst), lo), 1.0 - frac)
    np.add.at(m, (np.arange(dst), hi), frac)
    return m


def _smooth_noise(rng: np.random.Generator, n: int, size: int, channels: int) -> np.ndarray:
    """``n`` smooth random fields ``(n, size, size, channels)``, unit-ish variance."""
    m = _upsample_matrix(_SYNTH_GRID, size)
    coarse = rng.standard_normal((n, _SYNTH_GRID, _SYNTH_GRID, channels))
    rows = np.matmul(m, coarse.reshape(n, _SYNTH_GRID, -1))  # (n, size, grid * channels)
    rows = rows.reshape(n, size, _SYNTH_GRID, channels).transpose(0, 1, 3, 2)
    return np.matmul(rows, m.T).transpose(0, 1, 3, 2)  # (n, size, size, channels)


def _synth_split(
    rng: np.random.Generator,
    templates: np.ndarray,
    n: int,
    image_size: int,
    shift: int,
) -> tuple[np.ndarray, np.ndarray]:
    num_classes, _, _, channels = templates.shape
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    images = np.empty((n, image_size, image_size, channels), dtype=np.uint8)
    ar = np.arange(image_size)
    for start in range(0, n, _SYNTH_CHUNK):
        lab = labels[start : start + _SYNTH_CHUNK]
        k = lab.size
        dy, dx = rng.integers(0, 2 * shift + 1, size=(2, k))
        rows = (dy[:, None] + ar)[:, :, None]
        cols = (dx[:, None] + ar)[:, None, :]
        signal = templates[lab[:, None, None], rows, cols]  # random shift = random crop
        contrast = rng.uniform(0.6, 1.4, size=(k, 1, 1, 1))
        brightness = rng.normal(0.0, 12.0, size=(k, 1, 1, 1))
        distractor = _smooth_noise(rng, k, image_size, channels)  # class-independent structure
        pixel_noise = rng.normal(0.0, 16.0, size=signal.shape)
        x = 128.0 + brightness + 18.0 * (contrast * signal + 2.5 * distractor) + pixel_noise
        images[start : start + k] = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return images, labels


def synthetic(
    *,
    num_classes: int = 10,
    train_size: int = 1000,
    test_size: int = 500,
    image_size: int = 32,
    channels: int = 3,
    seed: int = 0,
) -> ImageArrays:
    """Deterministic, learnable, class-structured images for smoke runs and tests (no files).

    Each class has a fixed smooth template (a random ``4x4xC`` Gaussian pattern bilinearly
    upsampled). An example is its class template, randomly shifted by up to ``image_size // 8``
    pixels (a random crop of a slightly larger template) and scaled by a random contrast, plus a
    random brightness offset, an equally smooth class-*independent* distractor pattern and
    per-pixel Gaussian noise, quantised to uint8 around 128 (pixel std ~40, <0.3% clipped).
    The distractor is 2.5x stronger than the template and lives in the same low-frequency space,
    so the task is learnable but not trivial: with the defaults a nearest-class-mean classifier
    gets ~70% test accuracy (10 classes); a 2-layer CNN (SGD, batch 64) reaches ~65% test after
    100 steps and ~75% after 200 while its train accuracy keeps climbing (a generalisation gap,
    as on real data). Labels are balanced (``i % num_classes``, shuffled); classes are named
    ``"class0"``, ``"class1"``, ...

    The same arguments always give identical arrays: templates, train and test draw from
    independent streams spawned from ``seed``, so train and test share templates and changing
    ``test_size`` leaves the training set unchanged.
    """
    num_classes = check_int("num_classes", num_classes, 2)
    train_size = check_int("train_size", train_size, 1)
    test_size = check_int("test_size", test_size, 1)
    image_size = check_int("image_size", image_size, 1)
    channels = check_int("channels", channels, 1)
    seed = check_int("seed", seed, 0)

    tmpl_ss, train_ss, test_ss = np.random.SeedSequence(seed).spawn(3)
    shift = max(1, image_size // 8)
    templates = _smooth_noise(
        np.random.default_rng(tmpl_ss), num_classes, image_size + 2 * shift, channels
    )
    templates /= templates.std(axis=(1, 2, 3), keepdims=True)
    train = _synth_split(np.random.default_rng(train_ss), templates, train_size, image_size, shift)
    test = _synth_split(np.random.default_rng(test_ss), templates, test_size, image_size, shift)
    classes = tuple(f"class{i}" for i in range(num_classes))
    return ImageArrays(*train, *test, classes=classes)
