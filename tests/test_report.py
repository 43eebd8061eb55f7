"""The scorecard: verdicts computed from recorded results; missing notebooks are 'not run'."""

from __future__ import annotations

from fisherlab import report


def _results(ratio: float, gap: float, fp_gain: float) -> dict:
    gaps = [
        {
            "method": "eta_star",
            "best test (%)": 60.0,
            "best ± (std)": 0.5,
            "best Δ vs baseline (pts)": gap,
        },
        {
            "method": "baseline",
            "best test (%)": 60.0 - gap,
            "best ± (std)": 0.5,
            "best Δ vs baseline (pts)": 0.0,
        },
        {
            "method": "fp",
            "best test (%)": 60.0 - gap + fp_gain,
            "best ± (std)": 0.4,
            "best Δ vs baseline (pts)": fp_gain,
        },
    ]
    return {
        "01_fisher_explosion": {
            "findings": {
                "trace_fisher_ratio": ratio,
                "best_test_gap_points": gap,
                "final_test_gap_points": gap,
            }
        },
        "03_fisher_penalty": {
            "gaps": gaps,
            "findings": {"fp_max_trace_fisher_vs_baseline": 0.5},
            "correlation": [{"pearson": 0.95}, {"pearson": 0.97}],
        },
    }


def _verdicts(results: dict) -> dict[str, str]:
    card = report.scorecard(results)
    assert list(card.columns)[:3] == ["claim", "paper", "paper's number"]
    return dict(zip(card.claim, card.verdict, strict=True))


def test_verdicts_follow_the_numbers():
    v = _verdicts(_results(ratio=4.0, gap=5.0, fp_gain=3.0))
    assert v["Small learning rate → Tr(F) explodes early"] == "reproduced"
    assert v["Small learning rate → worse test accuracy"] == "reproduced"
    assert v["Fisher penalty closes the gap"] == "reproduced"  # 3 of 5 points
    assert v["FP beats the small-learning-rate baseline"] == "reproduced"
    assert v["Gradient-norm regularisers lower max Tr(F)"] == "reproduced"
    assert v["Tr(F^B) tracks Tr(F)"] == "reproduced"
    assert v["FP must start early"] == "not run"
    assert v["FP slows memorisation of noisy labels"] == "not run"
    v = _verdicts(_results(ratio=1.5, gap=-1.0, fp_gain=3.0))
    assert v["Small learning rate → Tr(F) explodes early"] == "not reproduced"
    assert v["Small learning rate → worse test accuracy"] == "not reproduced"
    # no gap to close: FP's gain over the baseline does not count as closing it
    assert v["Fisher penalty closes the gap"] == "not reproduced"


def test_nothing_run():
    assert set(_verdicts({}).values()) == {"not run"}
