"""The scorecard: claims judged on per-run rows, checks apart, README and HTML that can't drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, execute

from fisherlab import report

PAPER = REPO.parent / "shared" / "paper" / "paper-icml2021.txt"


def _run(method: str, seed: int, acc: float, **extra) -> dict:
    return {
        "method": method,
        "seed": seed,
        "status": "finished",
        "test acc at best val": acc,
        "final test acc": acc,
        "final train acc": 99.0,
        "max Tr(F)": 100.0,
        **extra,
    }


def _penalty(fp: list[float], baseline: list[float], eta: list[float] | None = None, **fp_extra):
    rows = [_run("fp", s, a, **fp_extra) for s, a in enumerate(fp)]
    rows += [_run("baseline", s, a, **{"max Tr(F)": 400.0}) for s, a in enumerate(baseline)]
    rows += [_run("eta_star", s, a) for s, a in enumerate(eta or [])]
    return {"03_fisher_penalty": {"per_run": rows, "params": {"batch_size": 128}}}


def _rows(results: dict, profile: str = "cpu") -> dict[str, dict]:
    return {r["id"]: r for r in report.claims_table(results, profile).to_dict("records")}


def test_a_strong_effect_over_3_seeds_is_reproduced_and_2_seeds_are_inconclusive():
    rows = _rows(_penalty([55.1, 55.4, 54.9], [51.0, 51.3, 50.8]))
    fp = rows["fp_beats_baseline"]
    assert fp["verdict"] == "reproduced", fp
    assert fp["effect"] == "+4.1 pts" and fp["criterion"] == "≥ +1.0 pts, 95% CI above 0"
    assert fp["n"] == "FP 3 · baseline 3 runs; seeds 0, 1, 2"
    two = _rows(_penalty([55.1, 55.4], [51.0, 51.3]))["fp_beats_baseline"]
    assert two["verdict"] == "inconclusive" and two["why"].startswith("n < 3")
    # the notebook ran, but table 2 was not recorded: not run, naming what is missing
    assert rows["table2_fp_at_eta_star"]["verdict"] == "not run"
    assert rows["table2_fp_at_eta_star"]["why"] == "not recorded: no 'table2' table"
    assert rows["fp_start_early"]["why"].startswith("no results of 04_delayed")


def test_opposite_effect_is_contradicted_and_a_tight_null_not_shown():
    rows = _rows(_penalty([49.0, 49.3, 48.8], [51.0, 51.3, 50.8]))
    assert rows["fp_beats_baseline"]["verdict"] == "contradicted"
    rows = _rows(_penalty([51.05, 51.2, 50.9], [51.0, 51.1, 50.9]))
    assert rows["fp_beats_baseline"]["verdict"] == "not shown"


def test_a_diverged_run_is_left_out_and_named_and_an_unfitted_arm_flagged():
    results = _penalty([55.1, 55.4, 54.9, 55.2], [51.0, 51.3, 50.8], **{"final train acc": 78.0})
    results["03_fisher_penalty"]["per_run"][3]["status"] = "diverged"
    row = _rows(results)["fp_beats_baseline"]
    assert row["verdict"] == "reproduced" and row["n"].startswith("FP 3 · baseline 3")
    assert "left out: FP seed 3 (diverged)" in row["notes"]
    assert "FP ends at 78.0% train accuracy (< 95%)" in row["notes"]
    assert "at matched train accuracy: not recorded" in row["notes"]


def test_gap_fraction_needs_a_gap():
    # η* 5 points above the baseline, FP recovers 80% of it
    rows = _rows(_penalty([55.0, 55.1, 54.9], [51.0, 51.1, 50.9], eta=[56.0, 56.1, 55.9]))
    assert rows["fp_closes_gap"]["verdict"] == "reproduced"
    assert rows["fp_closes_gap"]["effect"] == "+80%"
    assert "η* − baseline: +5.0 pts" in rows["fp_closes_gap"]["notes"]
    # no gap: the share is undefined noise, never "reproduced"
    rows = _rows(_penalty([55.0, 55.1, 54.9], [51.0, 53.1, 50.9], eta=[52.0, 51.1, 51.9]))
    assert rows["fp_closes_gap"]["verdict"] == "inconclusive"
    assert "the η*–baseline gap's CI includes 0: no gap to close" in rows["fp_closes_gap"]["notes"]


def _early_phase(slope: float) -> dict:
    rng = np.random.default_rng(0)
    rows = []
    for k, lr in enumerate([0.003, 0.01, 0.03, 0.1]):
        for seed in range(3):
            trace = 1000.0 / (k + 1) + rng.normal(0, 5)
            rows.append(
                {
                    "sweep": "learning rate",
                    "setting": f"lr={lr}",
                    "seed": seed,
                    "status": "finished",
                    "Tr(F_i)": trace,
                    "test acc at best val (%)": 50 + slope * trace / 100 + rng.normal(0, 0.1),
                    "best test acc (%)": 60.0 + rng.normal(0, 0.1),
                }
            )
    return {"02_early_phase_correlation": {"per_run": rows}}


def test_correlation_claims_resample_settings():
    row = _rows(_early_phase(-1.0))["early_trace_lr"]
    assert row["verdict"] == "reproduced", row
    assert row["n"] == "4 settings × 3 runs; seeds 0, 1, 2"
    assert "Spearman: −0.9" in row["notes"]
    assert _rows(_early_phase(+1.0))["early_trace_lr"]["verdict"] == "contradicted"
    # the other sweep was not run: its filter leaves no rows
    batch = _rows(_early_phase(-1.0))["early_trace_batch"]
    assert batch["verdict"] == "not run" and batch["why"] == "not recorded: no runs"


def _grid(b_minus_a: float, seeds: int = 3) -> dict:
    rows = [
        {
            "group": g,
            "lr": lr,
            "setting": f"lr={lr}",
            "seed": s,
            "status": "finished",
            "test acc at best val (%)": base + s * 0.05,
        }
        for g, lrs, base in (("A", [0.002, 0.004], 50.0), ("B", [0.02, 0.04], 51.0 + b_minus_a))
        for lr in lrs
        for s in range(seeds)
    ]
    return {"06_curvature_histograms": {"grid": rows}}


def test_grid_ordering():
    assert _rows(_grid(2.0))["grid_ordering"]["verdict"] == "reproduced"
    assert _rows(_grid(-4.0))["grid_ordering"]["verdict"] == "contradicted"
    assert _rows(_grid(2.0, seeds=1))["grid_ordering"]["verdict"] == "inconclusive"


def test_long_horizon_claim_reads_the_cpu_long_profile(tmp_path):
    rows = [
        {"arm": arm, "horizon": h, "seed": s, "status": "finished", "test acc at best val": acc}
        for h, gap in ((25, 0.0), (150, 0.05))
        for s in range(3)
        for arm, acc in (("η*", 0.60 + gap + 0.001 * s), ("small LR", 0.60))
    ]
    (tmp_path / "cpu-long" / "01_fisher_explosion").mkdir(parents=True)
    (tmp_path / "cpu-long" / "01_fisher_explosion" / "summary.json").write_text(
        json.dumps({"per_run": rows})
    )
    (tmp_path / "cpu").mkdir()
    results = report.load_results(tmp_path / "cpu", "cpu")
    assert list(results) == ["cpu-long/01_fisher_explosion"]
    row = _rows(results)["long_horizon_gap"]
    # the longest horizon only, fractions read as %
    assert row["verdict"] == "reproduced" and row["effect"] == "+5.1 pts", row
    assert _rows(results)["small_lr_worse"]["verdict"] == "not run"
    assert "best learning rate" not in row["notes"]  # no grid search recorded: nothing to say


def test_long_horizon_claim_notes_when_eta_star_is_not_the_grid_optimum():
    per_run = [
        {"arm": arm, "lr": lr, "horizon": 150, "seed": s, "status": "finished",
         "test acc at best val": 0.7}
        for s in range(3)
        for arm, lr in (("η*", 0.0316), ("small LR", 0.00316))
    ]  # fmt: skip
    search = [
        {"lr": lr, "status": "finished", "best val acc (%)": acc}
        for lr, acc in ((0.00316, 72.5), (0.01, 73.2), (0.0316, 71.9))
    ]
    results = {"cpu-long/01_fisher_explosion": {"per_run": per_run, "lr_search": search}}
    notes = _rows(results)["long_horizon_gap"]["notes"]
    assert "η* = 0.0316 is not the best learning rate by validation at this horizon: 0.01 is " in (
        notes
    )
    search[1]["status"] = "diverged"  # only finished runs compete; then 0.00316 is best
    assert "0.00316 is (of 0.00316, 0.0316;" in _rows(results)["long_horizon_gap"]["notes"]
    search[0]["best val acc (%)"] = 70.0
    assert "best learning rate" not in _rows(results)["long_horizon_gap"]["notes"]


def test_checks_are_shown_apart_and_not_counted():
    results = _penalty([55.1, 55.4, 54.9], [51.0, 51.3, 50.8])
    results["03_fisher_penalty"]["correlation"] = [
        {"run": "a", "pearson": 0.9, "mean Tr(F)/Tr(F^B)": 131.0},
        {"run": "b", "pearson": 0.95, "mean Tr(F)/Tr(F^B)": 140.0},
    ]
    checks = report.checks_table(results)
    status = dict(zip(checks.check, checks.status, strict=True))
    assert status["E[Tr(F^B)] = Tr(F)/B"] == "consistent"
    assert status["every gradient-norm regulariser lowers max Tr(F)"] == "consistent"
    assert status["Tr(H) = Tr(F)"] == "not run"
    results["03_fisher_penalty"]["correlation"][1]["mean Tr(F)/Tr(F^B)"] = 400.0
    results["03_fisher_penalty"]["correlation"][0]["mean Tr(F)/Tr(F^B)"] = 400.0
    assert report.checks_table(results).status[0] == "inconsistent"
    claims = report.claims_table(results)
    line = report.headline(claims, report.checks_table(results))
    assert line.startswith(f"Paper claims ({len(report.CLAIMS)}): 1 reproduced, ")
    assert "Consistency checks (identities, not counted; 3)" in line


def test_nothing_run():
    assert set(report.claims_table({}).verdict) == {"not run"}
    assert set(report.checks_table({}).status) == {"not run"}


def test_one_number_format():
    assert report.fmt(53.456, "%") == "53.5%"
    assert report.fmt(1.93, "pts") == "+1.9 pts" and report.fmt(-0.8, "pts") == "−0.8 pts"
    assert report.fmt(5.8564, "×") == "5.86×" and report.fmt(0.2786, "×") == "0.279×"
    assert report.fmt(-0.116, "r") == "−0.12" and report.fmt(0.8, "share") == "+80%"
    assert report.fmt(-1413.85) == "−1414" and report.fmt(float("nan")) == "—"
    assert report.fmt_ci(0.8, 3.0, "pts") == "+0.8 … +3.0 pts"


def test_claims_quote_the_paper():
    if not PAPER.exists():
        pytest.skip(f"the paper's text is not at {PAPER}")
    squash = lambda s: re.sub(r"[\s\-]", "", s)  # noqa: E731 (line breaks and hyphenation)
    text = squash(PAPER.read_text())
    for c in report.CLAIMS:
        for part in c.quote.split(" … "):
            assert squash(part) in text, f"{c.id}: not in the paper: {part!r}"


def test_claims_yaml_is_validated(tmp_path):
    spec = (REPO / "params" / "claims.yaml").read_text()
    bad = tmp_path / "claims.yaml"
    bad.write_text(spec.replace("method: ratio", "method: median", 1))
    with pytest.raises(ValueError, match="method='median' is not valid"):
        report.load_claims(bad)
    bad.write_text(spec.replace("    smallest: 2.0", "    smallest: 2.0\n    smalest: 1", 1))
    with pytest.raises(ValueError, match="unknown key"):
        report.load_claims(bad)


def test_the_docstring_lists_every_column_a_claim_reads():
    doc = " ".join(report.__doc__.split())
    for row in report.required_columns().itertuples():
        assert f"{row.notebook} ``{row.table}``" in doc or f"``{row.table}``" in doc, row.table
        for col in row.columns.split(", "):
            assert col in doc, f"{row.notebook} {row.table}: column {col!r} not documented"


def test_readme_results_are_generated_from_the_committed_summaries():
    readme = (REPO / "README.md").read_text()
    section = report.render_results(REPO / "outputs" / "cpu", "cpu")
    assert report.readme_with_results(readme, section) == readme, (
        "README's results section is stale: run `python -m fisherlab.report --readme`"
    )


def _offline_and_clean(html: str, *leaks: str) -> None:
    scripts = re.findall(r"<script\b[^>]*>.*?</script>", html, flags=re.S)
    assert not [s[:100] for s in scripts if "http" in s], "a script loads from the network"
    assert not re.findall(r"<(?:link|img|iframe)\b[^>]*(?:href|src)=\"https?:", html)
    for leak in (str(REPO), str(Path.home()), "/work/", "/root/", "PosixPath", *leaks):
        assert leak not in html, leak
    assert "(a) The paper's claims" in html and "(b) Consistency checks" in html


@pytest.mark.slow
def test_html_report_works_offline_and_leaks_no_path(tmp_path):
    execute("00_reproduction_report", tmp_path)
    html = report.export_html(tmp_path / "00_reproduction_report.ipynb").read_text()
    _offline_and_clean(html, str(tmp_path))
    assert "These verdicts test the code, not the paper." in html


def test_committed_cpu_report_works_offline_and_leaks_no_path():
    _offline_and_clean((REPO / "outputs" / "cpu" / "00_reproduction_report.html").read_text())


def _decimals(text: str) -> set[str]:
    return set(re.findall(r"\d+\.\d+", text))


def _strings(node: object) -> str:
    if isinstance(node, dict):
        return " ".join(_strings(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(_strings(v) for v in node)
    return node if isinstance(node, str) else ""


def test_readme_prose_numbers_come_from_the_committed_results():
    """Each number in the README's one-line-per-notebook digest is one a notebook printed (at cpu
    or cpu-long) in its recorded findings or parameters, or one of the generated scorecard's: a
    re-execution that moves a number fails here until the prose is rewritten."""
    readme = (REPO / "README.md").read_text()
    start = readme.index("**What the re-executed notebooks show")
    digest = readme[start : readme.index("\n\n", start)]
    scorecard = readme[readme.index("<!-- results:start") : readme.index("<!-- results:end")]
    parts = re.split(r"\b(0\d)(?: \([^)]*\))?: ", digest)[1:]
    assert parts, "the digest names no notebook ('01: …')"
    for number, text in zip(parts[::2], parts[1::2], strict=True):
        # the cpu profile's results, and cpu-long's for notebook 01 (the long-horizon study)
        summaries = sorted((REPO / "outputs").glob(f"cpu*/{number}_*/summary.json"))
        assert summaries, f"no committed results of notebook {number}"
        recorded = [json.loads(s.read_text()) for s in summaries]
        findings = " ".join(_strings(r.get("findings")) for r in recorded)
        settings = json.dumps([r.get("params") for r in recorded])  # lr 0.03 and the like
        missing = _decimals(text) - _decimals(findings + settings) - _decimals(scorecard)
        assert not missing, f"README digest of notebook {number}: {sorted(missing)} not in results"


def test_flatter_minima_counts_phase1_runs_and_names_their_seeds():
    """Fig. 6: 3 phase-1 runs per start, 2 continuations each; the unit is the phase-1 run."""
    rows = []
    for start, trace_h in [("high regularisation", 1000.0), ("low regularisation", 2000.0)]:
        for p1 in range(3):
            for seed in (1, 2):
                h = trace_h + 20 * p1 + 5 * seed
                rows.append(
                    {
                        "start": start,
                        "phase-1 seed": p1,
                        "seed": seed,
                        "status": "finished",
                        "Tr(H_f)": h,
                        "final train acc (%)": 99.0,
                    }
                )
    row = _rows({"06_curvature_histograms": {"continuations": rows}})["low_early_trace_flatter"]
    assert row["verdict"] == "reproduced", row
    assert row["n"] == (
        "low-Tr(F_i) start 3 · high-Tr(F_i) start 3 phase-1 runs; phase-1 seeds 0, 1, 2; seeds 1, 2"
    )
