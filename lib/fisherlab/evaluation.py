"""The measurements and evaluations of a run in progress, logged at its current step.

A mixin of ``fisherlab.training``'s loop state (which provides the attributes declared below):
Tr(F) and the label-noise probes (``fisherlab.measurements``), validation and test accuracy —
on the fixed ``test_subset`` during training, with the best-validation weights kept, and on the
full test set at the end and on those weights — Tr(H), the final train accuracy (clean and noisy
under label noise), and divergence when any of them is not finite.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from fisherlab.config import TrainConfig
from fisherlab.data import DataSplits
from fisherlab.measurements import (
    Probes,
    evaluate,
    fisher_due,
    fisher_metrics,
    hessian_trace,
    noise_metrics,
)

__all__ = ["Evaluations"]


class Evaluations:
    """Measurements, evaluations and the end of a run; see the module docstring."""

    config: TrainConfig
    data: DataSplits
    model: nn.Module
    probes: Probes
    step: int
    steps_per_epoch: int
    total_steps: int
    status: str
    stop_reason: str
    best_val: float
    best_step: int
    best_state: dict[str, Tensor] | None

    def log(self, metric: str, value: float) -> None:
        raise NotImplementedError  # the loop's history

    def diverge(self, reason: str) -> None:
        """End the run as ``diverged`` (the caller has restored the last finite weights)."""
        self.log("diverged", 1.0)
        self.status, self.stop_reason = "diverged", reason

    def log_all(self, values: dict[str, float]) -> None:
        for metric, value in values.items():
            self.log(metric, value)

    def measure_fisher(self) -> float:
        values = fisher_metrics(self.model, self.probes, self.config, self.step)
        self.log_all(values)
        if self.probes.noise:
            self.log_all(noise_metrics(self.model, self.probes))
        return values["trace_fisher"]

    def evaluate_all(self) -> bool:
        """Validation and test loss/accuracy (and Tr(H)); False when a loss is not finite.

        With ``test_subset`` the test metrics are ``test_subset_loss/acc`` on the fixed subset,
        and the weights of the best validation point so far are kept for ``evaluate_final``.
        """
        d = self.data
        finite = True
        if len(d.val_images):
            loss, acc = evaluate(self.model, d.val_images, d.val_labels, d)
            self.log("val_loss", loss)
            self.log("val_acc", acc)
            finite = math.isfinite(loss)
            if acc > self.best_val:
                self.best_val, self.best_step = acc, self.step
                if self.probes.test_idx is not None:
                    self.best_state = {
                        k: v.detach().clone() for k, v in self.model.state_dict().items()
                    }
        if self.probes.test_idx is not None:
            idx = self.probes.test_idx
            loss, acc = evaluate(self.model, d.test_images[idx], d.test_labels[idx], d)
            self.log("test_subset_loss", loss)
            self.log("test_subset_acc", acc)
            finite = finite and math.isfinite(loss)
        elif len(d.test_images):
            finite = self._evaluate_test() and finite
        if self.config.hessian_probes and finite:
            self.log(
                "trace_hessian", hessian_trace(self.model, self.probes, self.config, self.step)
            )
        return finite

    def _evaluate_test(self) -> bool:
        d = self.data
        loss, acc = evaluate(self.model, d.test_images, d.test_labels, d)
        self.log("test_loss", loss)
        self.log("test_acc", acc)
        return math.isfinite(loss)

    def evaluate_final(self) -> None:
        """With ``test_subset``: the full test set at the end and on the best-validation
        weights (logged as ``test_acc_at_best_val`` at that step)."""
        if self.probes.test_idx is None:
            return
        d = self.data
        self._evaluate_test()
        if self.best_state is not None:
            current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(self.best_state)
            _, acc = evaluate(self.model, d.test_images, d.test_labels, d)
            self.model.load_state_dict(current)
            step = self.step
            self.step = self.best_step
            self.log("test_acc_at_best_val", acc)
            self.step = step

    def finalize(self) -> None:
        """Final train accuracy/loss (clean and noisy under label noise), evaluations and Tr(F)
        at the last step if they were not due there."""
        config, data, spe = self.config, self.data, self.steps_per_epoch
        eval_period = max(1, round(config.eval_every * spe))
        if self.status == "diverged":
            return
        if self.step % eval_period != 0 and self.step != self.total_steps:
            if not self.evaluate_all():  # stopped early between evaluations
                self.diverge("non-finite evaluation loss")
                return
        self.evaluate_final()
        loss, acc = evaluate(self.model, data.train_images, data.train_labels, data)
        if not math.isfinite(loss):
            self.diverge("non-finite final training loss")
            return
        self.log("final_train_loss", loss)
        self.log("final_train_acc", acc)
        if self.probes.noise:  # Tables 8 and 9: final train accuracy on clean / noisy examples
            for name, mask in (("clean", ~data.noise_mask), ("noisy", data.noise_mask)):
                _, acc = evaluate(
                    self.model, data.train_images[mask], data.train_labels[mask], data
                )
                self.log(f"final_train_acc_{name}", acc)
        if not fisher_due(config, self.step, spe) and not math.isfinite(self.measure_fisher()):
            self.diverge("non-finite Tr(F)")
