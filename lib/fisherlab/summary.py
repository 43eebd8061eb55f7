"""A run's summary: the numbers the paper's tables report, computed from its tidy history.

Test accuracy is read at the best validation point (``test_acc_at_best_val``) or at the end;
``best_test_acc`` is kept for inspection only (selecting on test evaluations is not a result).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from fisherlab.config import TrainConfig

__all__ = ["summarize"]


def summarize(
    history: pd.DataFrame, config: TrainConfig, *, status: str, stop_reason: str
) -> dict[str, Any]:
    """The numbers the paper's tables report, from a run's tidy history."""

    def series(metric: str) -> pd.DataFrame:
        return history[history.metric == metric]

    def last(metric: str) -> float | None:
        s = series(metric)
        return float(s.value.iloc[-1]) if len(s) else None

    def best(metric: str) -> tuple[float | None, int | None]:
        s = series(metric)
        if not len(s):
            return None, None
        i = s.value.idxmax()
        return float(s.value[i]), int(s.step[i])

    fisher = series("trace_fisher")
    late = fisher[fisher.epoch >= config.fisher_max_after_epoch]
    max_f, max_f_step = (None, None)
    if len(late):
        i = late.value.idxmax()
        max_f, max_f_step = float(late.value[i]), int(late.step[i])
    best_val, best_val_step = best("val_acc")
    test = series("test_acc")
    test_at_best_val = last("test_acc_at_best_val")  # test_subset runs: full test, best weights
    if best_val_step is not None and test_at_best_val is None:
        at = test[test.step == best_val_step]
        test_at_best_val = float(at.value.iloc[0]) if len(at) else None
    best_test, best_test_step = best("test_acc")
    steps = int(history.step.max()) if len(history) else 0
    diverged = series("diverged")
    return {
        "status": status,
        "stop_reason": stop_reason,
        "diverged_step": int(diverged.step.iloc[0]) if len(diverged) else None,
        "steps": steps,
        "epochs": float(history.epoch.max()) if len(history) else 0.0,
        "max_trace_fisher": max_f,
        "max_trace_fisher_step": max_f_step,
        "final_trace_fisher": last("trace_fisher"),
        "best_val_acc": best_val,
        "best_val_step": best_val_step,
        "test_acc_at_best_val": test_at_best_val,
        "best_test_acc": best_test,
        "best_test_step": best_test_step,
        "final_test_acc": last("test_acc"),
        "final_val_acc": last("val_acc"),
        "final_train_acc": last("final_train_acc"),
        "final_train_loss": last("final_train_loss"),
        "last_epoch_train_acc": last("epoch_train_acc"),
        "final_train_acc_clean": last("final_train_acc_clean"),
        "final_train_acc_noisy": last("final_train_acc_noisy"),
    }
