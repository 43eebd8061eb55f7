"""The paper's reported numbers, for labelled reference columns only (never as results).

Transcribed from the ICML 2021 version (../shared/paper/paper-icml2021.txt), every row of every
table: Tables 1-3 (main text), 4-7 (Supplement A.2), 8-9 (Supplement A.3), and the numbers
Supplements C and E give in their prose. ``tests/test_reference.py`` parses each row out of that
text and checks it against these values. Accuracies in percent, Tr(F) as reported, times in
seconds per epoch (GPU).

Row keys: Tables 1 and 4-6 use Table 1's setting names (Table 4 has no TinyImageNet row); Tables 2
and 7 use Table 2's; Tables 3, 8 and 9 use Table 3's.
"""

from __future__ import annotations

__all__ = [
    "MEMORIZATION_METHODS",
    "METHODS",
    "SUPPLEMENT_C",
    "SUPPLEMENT_E",
    "TABLE1",
    "TABLE2",
    "TABLE3_LABEL_NOISE_TEST_ACC",
    "TABLE4_MAX_TRACE_FISHER",
    "TABLE5_SECONDS_PER_EPOCH",
    "TABLE6_FINAL_TRAIN_ACC",
    "TABLE7_FINAL_TRAIN_ACC",
    "TABLE8_FINAL_TRAIN_ACC_CLEAN",
    "TABLE9_FINAL_TRAIN_ACC_NOISY",
    "reference_column",
]

METHODS = ("eta_star", "baseline", "gpx", "gp", "fp", "gpr")


def _row(*values: float) -> dict[str, float]:
    return dict(zip(METHODS, values, strict=True))


# -- Section 4 (notebook 03): Fisher penalty against its peers -----------------------------------
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
# Table 4: maximum Tr(F) along the trajectory, measured from epoch 1 on (CIFAR settings only)
TABLE4_MAX_TRACE_FISHER = {
    "DenseNet / CIFAR-100 (w/o aug.)": _row(24.68, 98.17, 83.64, 64.33, 66.24, 73.66),
    "VGG11 / CIFAR-100 (w/o aug.)": _row(50.88, 148.19, 102.95, 58.53, 64.93, 62.96),
    "WResNet / CIFAR-100 (w/o aug.)": _row(26.21, 91.39, 41.43, 40.94, 56.53, 39.31),
    "SimpleCNN / CIFAR-10 (w/o aug.)": _row(24.21, 52.05, 47.96, 25.03, 19.63, 25.35),
}
# Table 5: seconds per epoch on the authors' GPUs
TABLE5_SECONDS_PER_EPOCH = {
    "WResNet / TinyImageNet (aug.)": _row(214.45, 142.69, 233.14, 143.78, 208.62, 371.74),
    "DenseNet / CIFAR-100 (w/o aug.)": _row(78.88, 57.40, 77.89, 78.66, 97.25, 75.96),
    "VGG11 / CIFAR-100 (w/o aug.)": _row(30.50, 35.27, 31.54, 32.52, 43.41, 42.40),
    "WResNet / CIFAR-100 (w/o aug.)": _row(49.64, 47.99, 71.33, 61.36, 76.93, 53.25),
    "SimpleCNN / CIFAR-10 (w/o aug.)": _row(18.64, 19.51, 26.09, 19.91, 21.21, 20.55),
}
# Table 6: final-epoch training accuracy (%) of Table 1's runs
TABLE6_FINAL_TRAIN_ACC = {
    "WResNet / TinyImageNet (aug.)": _row(99.84, 99.96, 99.97, 93.84, 81.05, 86.46),
    "DenseNet / CIFAR-100 (w/o aug.)": _row(99.98, 99.97, 99.96, 99.91, 99.91, 99.39),
    "VGG11 / CIFAR-100 (w/o aug.)": _row(99.98, 99.98, 99.85, 99.62, 97.73, 86.32),
    "WResNet / CIFAR-100 (w/o aug.)": _row(99.98, 99.98, 99.97, 99.96, 99.99, 99.94),
    "SimpleCNN / CIFAR-10 (w/o aug.)": _row(100.00, 100.00, 97.79, 100.00, 93.80, 94.64),
}
# Table 7: final-epoch training accuracy (%) of Table 2's runs, mean ± std, Table 2's keys
TABLE7_FINAL_TRAIN_ACC = {
    "WResNet / TinyImageNet": {"eta_star": (99.86, 0.02), "fp": (93.65, 5.85)},
    "DenseNet / C100": {"eta_star": (98.75, 0.27), "fp": (97.53, 1.75)},
    "VGG11 / C100": {"eta_star": (98.64, 0.06), "fp": (93.06, 0.01)},
    "WResNet / C100": {"eta_star": (99.97, 0.01), "fp": (99.97, 0.00)},
    "SimpleCNN / C10": {"eta_star": (97.52, 1.98), "fp": (98.94, 0.08)},
}


def reference_column(table: dict[str, dict[str, float]], setting: str | None) -> dict[str, float]:
    """{method: paper value} for ``setting``, or {} when the paper has no such row."""
    return dict(table.get(setting or "", {}))


# -- Supplements C and E (SimpleCNN / CIFAR-10, w/o aug.): numbers given in the prose ------------
# C: FP recomputed every step (f = 1, Fig. 16) and eq. 6's per-example FP (Fig. 17)
SUPPLEMENT_C = {
    "fp test acc (%)": 80.02,
    "fp max Tr(F)": 21.38,
    "eq6 test acc (%)": 79.7,
    "eq6 max Tr(F)": 24.16,
}
# E: 10x larger batch at the same learning rate, then FP on it at half that learning rate (Fig. 20)
SUPPLEMENT_E = {
    "eta_star test acc (%)": 76.94,
    "large batch test acc (%)": 73.7,
    "large batch, half lr test acc (%)": 73.59,
    "large batch, half lr, FP test acc (%)": 78.7,
}

# -- Section 4.1 (notebook 05): label noise on CIFAR-100 ----------------------------------------
# {setting: {fraction of noisy labels: {method: %}}}, methods in Table 3's order. The paper calls
# the second model "ResNet-52" in these tables, "ResNet-32" in the text, "ResNet-50" in Fig. 11
# and the Wide ResNet of I.2 in Supplement I.3; the tables' label is kept.
MEMORIZATION_METHODS = ("baseline", "mixup", "gpx", "fp", "gpr")


def _mrow(*values: float) -> dict[str, float]:
    return dict(zip(MEMORIZATION_METHODS, values, strict=True))


# Table 3: test accuracy (%) at the best validation evaluation
TABLE3_LABEL_NOISE_TEST_ACC = {
    "VGG-11 / CIFAR-100": {
        0.25: _mrow(41.74, 52.31, 45.94, 60.18, 58.46),
        0.5: _mrow(30.05, 39.15, 34.26, 51.33, 50.33),
    },
    "ResNet-52 / CIFAR-100": {
        0.25: _mrow(53.30, 61.61, 52.70, 58.31, 57.60),
        0.5: _mrow(43.35, 51.71, 42.99, 47.99, 50.08),
    },
}
# Table 8: final-epoch training accuracy (%) on the clean examples (25% noisy labels only)
TABLE8_FINAL_TRAIN_ACC_CLEAN = {
    "VGG-11 / CIFAR-100": {0.25: _mrow(99.79, 73.14, 97.46, 79.52, 81.75)},
    "ResNet-52 / CIFAR-100": {0.25: _mrow(95.87, 77.71, 95.88, 78.72, 74.21)},
}
# Table 9: final-epoch training accuracy (%) on the noisy examples (25% noisy labels only)
TABLE9_FINAL_TRAIN_ACC_NOISY = {
    "VGG-11 / CIFAR-100": {0.25: _mrow(99.56, 8.29, 89.23, 4.10, 4.96)},
    "ResNet-52 / CIFAR-100": {0.25: _mrow(73.67, 4.22, 72.67, 4.14, 2.86)},
}
