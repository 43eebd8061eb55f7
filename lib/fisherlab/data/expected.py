"""What each named dataset must hold (class names, images per class and split), and the check.

A dataset that is read whole but is not what its release is (a class folder missing, a split
cut short by a damaged archive) would otherwise train and evaluate silently on something else:
the paper's numbers (Jastrzebski et al., 2021, Supplement I.2) assume the full CIFAR-10 (10
classes x 5,000 train / 1,000 test), CIFAR-100 (100 x 500 / 100) and TinyImageNet (200 x 500
train / 50 val, the val split serving as test). The generic ``imagefolder`` dataset has no
expected counts. :data:`EXPECTED` is the single table; tests substitute small entries for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fisherlab.data.arrays import CorruptDataError, ImageArrays

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_CLASSES",
    "EXPECTED",
    "Expected",
    "check_arrays",
    "check_counts",
]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

#: The 100 fine labels of CIFAR-100 in label order (alphabetical), as in its ``meta`` file.
CIFAR100_CLASSES: tuple[str, ...] = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
    butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch
    crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo
    keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse
    mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy
    porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper
    snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television
    tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
)


@dataclass(frozen=True)
class Expected:
    """One dataset's shape: ``num_classes`` classes, ``per_class[split]`` images in each.

    ``classes`` lists the names in label order when the release fixes them (CIFAR), else None
    (TinyImageNet's 200 wnids come from its own ``wnids.txt``).
    """

    num_classes: int
    per_class: Mapping[str, int]
    classes: tuple[str, ...] | None = None


#: Dataset name -> what it must hold. Absent names (``imagefolder``, ``synthetic``) are unchecked.
EXPECTED: dict[str, Expected] = {
    "cifar10": Expected(10, {"train": 5000, "test": 1000}, CIFAR10_CLASSES),
    "cifar100": Expected(100, {"train": 500, "test": 100}, CIFAR100_CLASSES),
    "tinyimagenet": Expected(200, {"train": 500, "test": 50}),
}


def _names(items: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def check_counts(
    dataset: str,
    classes: Sequence[str],
    counts: Mapping[str, Sequence[int]],
    where: Mapping[str, str],
) -> None:
    """Refuse ``classes`` / per-class ``counts`` (split -> one count per class) unlike the release.

    ``where[split]`` names the file or folder the split was read from; the error says what was
    expected and what was found there, e.g. ``…/train: 9 classes, expected 10 (missing:
    truck)`` or ``…/test: test split has 8,746 images, expected 10,000 (10 classes × 1,000);
    off: truck 0``. No-op for a dataset without an :data:`EXPECTED` entry.
    """
    spec = EXPECTED.get(dataset)
    if spec is None:
        return
    classes = list(classes)
    if spec.classes is not None and tuple(classes) != spec.classes:
        missing = [c for c in spec.classes if c not in classes]
        extra = [c for c in classes if c not in spec.classes]
        found = f"{len(classes)} classes, expected {spec.num_classes}"
        detail = [f"missing: {_names(missing)}"] if missing else []
        detail += [f"unexpected: {_names(extra)}"] if extra else []
        if not detail:
            detail = [f"order {_names(classes)} differs from the release's"]
        raise CorruptDataError(f"{where['train']}: {found} ({'; '.join(detail)})")
    if len(classes) != spec.num_classes:
        raise CorruptDataError(
            f"{where['train']}: {len(classes)} classes, expected {spec.num_classes}"
        )
    for split, per_class in spec.per_class.items():
        found_counts = list(counts[split])
        off = [
            f"{name} {n:,}" for name, n in zip(classes, found_counts, strict=True) if n != per_class
        ]
        if off:
            raise CorruptDataError(
                f"{where[split]}: {split} split has {sum(found_counts):,} images, expected "
                f"{per_class * spec.num_classes:,} ({spec.num_classes} classes × {per_class:,}); "
                f"off: {_names(off)}"
            )


def check_arrays(dataset: str, arrays: ImageArrays, where: Mapping[str, str]) -> None:
    """:func:`check_counts` on decoded arrays (counts from their labels)."""
    counts = {
        split: np.bincount(
            np.asarray(getattr(arrays, f"{split}_labels")), minlength=arrays.num_classes
        ).tolist()
        for split in ("train", "test")
    }
    check_counts(dataset, arrays.classes, counts, where)
