"""reference.py against the paper's text: every table row parsed out of paper-icml2021.txt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fisherlab import reference

PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper" / "paper-icml2021.txt"
pytestmark = pytest.mark.skipif(
    not PAPER.is_file(), reason=f"the paper's text is not at {PAPER} (../shared/paper/)"
)

COLUMNS = {
    "η∗": "eta_star",
    "Baseline": "baseline",
    "Mixup": "mixup",
    "GPx": "gpx",
    "GP": "gp",
    "FP": "fp",
    "GPr": "gpr",
}
NUMBER = re.compile(r"(\d+\.\d+)(?:±(\d+\.\d+))?%?")
NOISE = re.compile(r"^(\d+)%\s+(.*)$")


def _text() -> str:
    return PAPER.read_text(encoding="utf-8")


def _key(label: str) -> str:
    """One spelling per setting: the tables abbreviate differently (``SCNN/C10 (w/o aug.)``)."""
    out = re.sub(r"\s+", "", label.lower())
    for long, short in (
        ("wideresnet", "wresnet"),
        ("simplecnn", "scnn"),
        ("cifar-100", "c100"),
        ("cifar-10", "c10"),
        ("(aug.)", ""),  # Table 7 marks its rows "(aug)", Table 2 the same rows not at all
        ("(aug)", ""),
    ):
        out = out.replace(long, short)
    return out


def parse_table(number: int) -> dict[str, dict[str, float | tuple[float, float]]]:
    """{row key: {method: value}} of Table ``number``: the rows after its ``Setting`` header.

    A row is a line with one number per column; the table ends at the first other non-blank
    line. A leading noise level (``25% VGG-11/C100 …``) carries to the rows below it and becomes
    part of the key (``0.25 vgg-11/c100``). ``a±b`` values parse to ``(a, b)``.
    """
    lines = _text().splitlines()
    start = next(i for i, s in enumerate(lines) if re.match(rf"\s*Table {number}:", s))
    head = next(
        i for i in range(start, len(lines)) if re.match(r"(Label Noise )?Setting ", lines[i])
    )
    methods = [COLUMNS[c] for c in lines[head].split("Setting", 1)[1].split()]
    rows: dict[str, dict[str, float | tuple[float, float]]] = {}
    noise = ""
    for line in lines[head + 1 :]:
        found = list(NUMBER.finditer(line))
        if len(found) != len(methods):
            if line.strip() and rows:
                break
            continue
        label = line[: found[0].start()].strip()
        if m := NOISE.match(label):
            noise, label = f"{int(m.group(1)) / 100:g} ", m.group(2)
        values = [
            (float(f.group(1)), float(f.group(2))) if f.group(2) else float(f.group(1))
            for f in found
        ]
        rows[noise + _key(label)] = dict(zip(methods, values, strict=True))
    return rows


def _flat(table: dict) -> dict[str, dict]:
    """A transcription keyed like ``parse_table``; noise-level tables gain the level prefix."""
    out = {}
    for setting, row in table.items():
        if all(isinstance(k, float) for k in row):
            out.update({f"{level:g} {_key(setting)}": r for level, r in row.items()})
        else:
            out[_key(setting)] = row
    return out


@pytest.mark.parametrize(
    ("number", "table"),
    [
        (1, reference.TABLE1),
        (2, reference.TABLE2),
        (3, reference.TABLE3_LABEL_NOISE_TEST_ACC),
        (4, reference.TABLE4_MAX_TRACE_FISHER),
        (5, reference.TABLE5_SECONDS_PER_EPOCH),
        (6, reference.TABLE6_FINAL_TRAIN_ACC),
        (7, reference.TABLE7_FINAL_TRAIN_ACC),
        (8, reference.TABLE8_FINAL_TRAIN_ACC_CLEAN),
        (9, reference.TABLE9_FINAL_TRAIN_ACC_NOISY),
    ],
)
def test_every_row_and_number_matches_the_text(number, table):
    parsed = parse_table(number)
    assert len(parsed) >= 2, f"Table {number}: parser found {parsed}"
    assert _flat(table) == parsed


def test_parser_reads_the_rows_it_should():
    """Guards the parser itself: a known row, its column order and the noise-level prefix."""
    assert parse_table(1)["scnn/c10(w/oaug.)"]["gpr"] == 79.76
    assert list(parse_table(1)["vgg11/c100(w/oaug.)"]) == list(reference.METHODS)
    assert parse_table(3)["0.5 resnet-52/c100"]["mixup"] == 51.71
    assert parse_table(7)["wresnet/tinyimagenet"]["fp"] == (93.65, 5.85)


PROSE = {
    ("SUPPLEMENT_C", "eq6 test acc (%)"): r"best value of α yields ([\d.]+)% test",
    ("SUPPLEMENT_C", "fp test acc (%)"): r"compared to ([\d.]+)% test accuracy yielded",
    ("SUPPLEMENT_C", "eq6 max Tr(F)"): r"maximum value of Tr\(F\) of ([\d.]+),",
    ("SUPPLEMENT_C", "fp max Tr(F)"): r"compared to that of ([\d.]+) achieved",
    ("SUPPLEMENT_E", "eta_star test acc (%)"): r"accuracy \(([\d.]+)% compared to",
    ("SUPPLEMENT_E", "large batch test acc (%)"): r"compared to ([\d.]+)% test accuracy, c\.f\.",
    ("SUPPLEMENT_E", "large batch, half lr test acc (%)"): r"learning rate reaches ([\d.]+)%",
    ("SUPPLEMENT_E", "large batch, half lr, FP test acc (%)"): r"from [\d.]+% to ([\d.]+)%",
}


@pytest.mark.parametrize(("name", "key"), list(PROSE))
def test_supplement_prose_numbers_match_the_text(name, key):
    found = re.findall(PROSE[name, key], re.sub(r"\s+", " ", _text()))
    assert len(found) == 1, f"{PROSE[name, key]!r} matched {found}"
    assert getattr(reference, name)[key] == float(found[0])


def test_every_prose_number_is_checked():
    for name in ("SUPPLEMENT_C", "SUPPLEMENT_E"):
        assert set(getattr(reference, name)) == {k for n, k in PROSE if n == name}
