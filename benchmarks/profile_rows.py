"""Where the time of the slow benchmark rows goes: torch.profiler tables of single calls.

    python benchmarks/profile_rows.py [--row fp-step|fd-step|plain-step|trf-hooks|hutchinson|all]
                                      [--model simplecnn] [--batch 128] [--threads N] [--top 12]

Prints the operators with the most self CPU time (CUDA time on a GPU) for one call of each row,
after a warm-up call. The rows are those of ``benchmarks/run.py``: a plain SGD step's
forward+backward, the recomputing step of FP by double backprop and by finite differences, Tr(F)
by hooks, Hutchinson's Tr(H) with 30 probes.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from fisherlab.estimators import hutchinson_trace, trace_fisher
from fisherlab.models import build_model
from fisherlab.penalties import fisher_penalty, fisher_penalty_grad_fd

warnings.filterwarnings("ignore")


def rows(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Callable]:
    params = [p for p in model.parameters() if p.requires_grad]

    def gen() -> torch.Generator:
        return torch.Generator().manual_seed(0)

    def plain_step() -> None:
        model.train()
        torch.autograd.grad(F.cross_entropy(model(x), y), params)

    def fp_step() -> None:
        plain_step()
        torch.autograd.grad(fisher_penalty(model, x, generator=gen()), params)

    def fd_step() -> None:
        plain_step()
        fisher_penalty_grad_fd(model, x, generator=gen())

    return {
        "plain-step": plain_step,
        "fp-step": fp_step,
        "fd-step": fd_step,
        "trf-hooks": lambda: trace_fisher(model, x, generator=gen(), method="hooks"),
        "hutchinson": lambda: hutchinson_trace(model, x[:32], y[:32], probes=30, generator=gen()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--row", default="all")
    p.add_argument("--model", default="simplecnn")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--top", type=int, default=12)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = build_model(a.model).to(device)
    x = torch.randn(a.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (a.batch,), device=device)
    table = rows(model, x, y)
    names = list(table) if a.row == "all" else a.row.split(",")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    for name in names:
        fn = table[name]
        fn()
        with profile(activities=activities) as prof:
            fn()
        print(f"\n### {name} ({a.model}, batch {a.batch}, threads {torch.get_num_threads()})")
        print(prof.key_averages().table(sort_by=sort, row_limit=a.top, max_name_column_width=48))


if __name__ == "__main__":
    main()
