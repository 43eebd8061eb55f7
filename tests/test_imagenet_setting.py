"""Fig. 2(a)'s ImageNet setting of the paper profile (02) on a tiny fake ImageFolder: the runs'
configs carry Supplement I.1's ImageNet hyper-parameters, and the data and the model load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fisherlab.data import load_splits, normalize
from fisherlab.experiments import early_phase as ep
from fisherlab.models import build_model
from fisherlab.notebook import resolve_params

SETTING = "WRN-20-4 SkipInit / ImageNet 32x32"
CLASSES = ("n01440764", "n01443537", "n01484850")  # ImageNet's folder names are WordNet ids
PER_CLASS = {"train": 4, "test": 2}


@pytest.fixture
def imagefolder(tmp_path, monkeypatch):
    """train/<wnid>/*.png and test/<wnid>/*.png, 32x32 RGB, class c's pixels around 80c."""
    monkeypatch.setenv("FISHERLAB_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "imagenet32"
    for split, n in PER_CLASS.items():
        for c, wnid in enumerate(CLASSES):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(80 * c, 80 * c + 16, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{i}.png")
    return root


def test_imagenet_setting_resolves_to_the_papers_hyperparameters(imagefolder, tmp_path):
    p = resolve_params(
        "02_early_phase_correlation",
        {
            "profile": "paper",
            "setting": SETTING,
            "data_root": str(imagefolder),
            "output_dir": str(tmp_path / "out"),
            "runs_dir": str(tmp_path / "runs"),
        },
    )  # trains=True: also finds the data and checks val_size against it
    assert p["batch_sizes"] is None  # no batch-size sweep
    configs = [  # as notebook 02's grid cell builds them
        p.train_config(lr=lr, batch_size=p["batch_size"], seed=s, **ep.scaled_cadence(p, 256))
        for lr in p["lr_grid"]
        for s in p["seeds"]
    ]
    assert sorted((c.lr, c.seed) for c in configs) == [
        (lr, s) for lr in (0.001, 0.01, 0.1) for s in (0, 1)
    ]
    for cfg in configs:
        assert (cfg.dataset, cfg.data_root, cfg.augment, cfg.val_size) == (
            "imagefolder",
            str(imagefolder),
            False,
            0,
        )
        assert (cfg.batch_size, cfg.momentum, cfg.weight_decay) == (256, 0.9, 1e-4)
        assert (cfg.epochs, cfg.lr_milestones, cfg.lr_factor) == (50, (29.0,), 0.1)
        assert cfg.fisher_probe == 2500 and cfg.regularizer == "none"
        assert (cfg.model, cfg.model_options) == ("wrn", {"depth": 20, "width": 4, "bn": False})
    assert p["loss_threshold"] == 3.5 and p["supplement_e"] is False


def test_imagenet_setting_data_and_model_load(imagefolder, tmp_path):
    p = resolve_params(
        "02_early_phase_correlation",
        {
            "profile": "paper",
            "setting": SETTING,
            "data_root": str(imagefolder),
            "output_dir": str(tmp_path / "out"),
        },
        trains=False,
    )
    cfg = p.train_config(lr=p["lr_grid"][0], seed=p["seeds"][0])
    data = load_splits(cfg.dataset, cfg.data_root, val_size=cfg.val_size, subset=cfg.subset)
    assert data.classes == CLASSES
    assert data.image_shape == (3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.train_labels.tolist() == [c for c in range(3) for _ in range(PER_CLASS["train"])]
    assert data.test_labels.tolist() == [c for c in range(3) for _ in range(PER_CLASS["test"])]
    assert len(data.val_images) == 0
    # the pixels decoded are the ones written: class c's mean near 80c + 7.5
    means = [float(data.train_images[data.train_labels == c].float().mean()) for c in range(3)]
    assert means == pytest.approx([80 * c + 7.5 for c in range(3)], abs=1.0)
    model = build_model(cfg.model, data.num_classes, **cfg.model_options)
    logits = model(normalize(data.test_images, data.mean, data.std))
    assert logits.shape == (len(data.test_images), len(CLASSES))
