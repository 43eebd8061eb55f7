"""The paper's reported numbers, for labelled reference columns only (never as results).

Transcribed from the ICML 2021 version (../shared/paper/): Table 1 and 2 (main text), Tables 4,
5 and 6 (Supplement A.2). Accuracies in percent, Tr(F) as reported, times in seconds per epoch.
A value the source text does not give legibly is left out rather than guessed.
"""

from __future__ import annotations

__all__ = [
    "METHODS",
    "TABLE1",
    "TABLE2",
    "TABLE4_MAX_TRACE_FISHER",
    "TABLE5_SECONDS_PER_EPOCH",
    "TABLE6_FINAL_TRAIN_ACC",
    "reference_column",
]

METHODS = ("eta_star", "baseline", "gpx", "gp", "fp", "gpr")


def _row(*values: float) -> dict[str, float]:
    return dict(zip(METHODS, values, strict=True))


# Table 1: test accuracy (%), baseline = η*/10 (η*/30 for TinyImageNet)
TABLE1 = {
    "WResNet / TinyImageNet (aug.)": _row(54.67, 52.57, 52.79, 56.44, 56.73, 55.41),
    "DenseNet / CIFAR-100 (w/o aug.)": _row(66.09, 58.51, 62.12, 64.42, 66.41, 66.39),
    "VGG11 / CIFAR-100 (w/o aug.)": _row(45.86, 36.86, 45.26, 47.35, 49.87, 48.26),
    "WResNet / CIFAR-100 (w/o aug.)": _row(53.96, 46.38, 58.68, 57.68, 57.05, 58.15),
    "SimpleCNN / CIFAR-10 (w/o aug.)": _row(76.94, 71.32, 75.68, 75.73, 79.66, 79.76),
}
# Table 2: FP at η* with augmentation, test accuracy (%) mean ± std: {setting: {method: (m, s)}}
TABLE2 = {
    "WResNet / TinyImageNet": {"eta_star": (54.70, 0.0), "fp": (60.00, 0.1)},
    "DenseNet / C100": {"eta_star": (74.41, 0.5), "fp": (74.19, 0.5)},
    "VGG11 / C100": {"eta_star": (59.82, 1.2), "fp": (65.08, 0.5)},
    "WResNet / C100": {"eta_star": (69.48, 0.3), "fp": (71.53, 1.2)},
    "SimpleCNN / C10": {"eta_star": (87.16, 0.2), "fp": (87.52, 0.5)},
}
TABLE4_MAX_TRACE_FISHER = {
    "DenseNet / CIFAR-100 (w/o aug.)": _row(24.68, 98.17, 83.64, 64.33, 66.24, 73.66),
    "VGG11 / CIFAR-100 (w/o aug.)": _row(50.88, 148.19, 102.95, 58.53, 64.93, 62.96),
    "WResNet / CIFAR-100 (w/o aug.)": _row(26.21, 91.39, 41.43, 40.94, 56.53, 39.31),
    "SimpleCNN / CIFAR-10 (w/o aug.)": _row(24.21, 52.05, 47.96, 25.03, 19.63, 25.35),
}
TABLE5_SECONDS_PER_EPOCH = {
    "WResNet / TinyImageNet (aug.)": _row(214.45, 142.69, 233.14, 143.78, 208.62, 371.74),
    "DenseNet / CIFAR-100 (w/o aug.)": _row(78.88, 57.40, 77.89, 78.66, 97.25, 75.96),
    "VGG11 / CIFAR-100 (w/o aug.)": _row(30.50, 35.27, 31.54, 32.52, 43.41, 42.40),
    "WResNet / CIFAR-100 (w/o aug.)": _row(49.64, 47.99, 71.33, 61.36, 76.93, 53.25),
    "SimpleCNN / CIFAR-10 (w/o aug.)": _row(18.64, 19.51, 26.09, 19.91, 21.21, 20.55),
}
# Table 6: only the SimpleCNN row is legible in the text version of the supplement
TABLE6_FINAL_TRAIN_ACC = {
    "SimpleCNN / CIFAR-10 (w/o aug.)": _row(100.00, 100.00, 97.79, 100.00, 93.80, 94.64),
}


def reference_column(table: dict[str, dict[str, float]], setting: str | None) -> dict[str, float]:
    """{method: paper value} for ``setting``, or {} when the paper has no such row."""
    return dict(table.get(setting or "", {}))
