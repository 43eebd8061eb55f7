"""fisherlab benchmark suite (issue 7): one command, one table of ratios.

    python benchmarks/run.py [--quick] [--model simplecnn --model resnet26] [--threads N]
                             [--device auto|cpu|cuda] [--sections trf,hutch,epoch,data,memory]
                             [--output results.md]

Every ratio is measured in the same process and run against its baseline (memory rows: one
subprocess per row on CPU); the rows of a section are interleaved — call by call (trf, hutch)
or SGD step by SGD step (epoch, data) — so that a changing load hits every row alike, and each
row's median over the repeats is reported. Sections:

trf     Tr(F) (sampled labels) on N examples: fisherlab (hooks, vmap), a batch-size-1 loop,
        BackPACK's BatchL2Grad when installed, over one plain forward+backward of the same N
        examples. Values must agree with the loop to 1e-5 relative.
hutch   Hutchinson Tr(H) with M = 30 probes on one batch: fisherlab vs PyHessian when installed,
        and the exact Tr(F) by hooks, which equals Tr(H) for these piecewise-linear nets.
epoch   One training "epoch" (a fixed number of SGD steps, batch 128, in-memory data as in
        fisherlab.training) with each regulariser, over the plain epoch.
data    Wall time per epoch with fisherlab's in-memory batches (index, augment, normalise) and
        with torchvision's DataLoader + PIL transforms, over the pure compute time.
memory  Peak memory of Tr(F) by chunk size (CPU: VmHWM of a fresh subprocess; CUDA: allocator).

Data: real CIFAR-10 via fisherlab.data.load_splits when present, else the synthetic set.
The optional peers are in the ``bench`` extra: ``pip install -e .[bench]``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fisherlab.data import augment, epoch_order, load_splits, normalize, step_generator
from fisherlab.estimators import hutchinson_trace, sample_model_labels, trace_fisher
from fisherlab.models import build_model
from fisherlab.step import sgd_step

warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
warnings.filterwarnings("ignore", message="Extension saving to")  # BackPACK on the root module
warnings.filterwarnings("ignore", message="Using backward.. with create_graph=True")  # PyHessian

BATCH = 128
SEED = 0
TARGETS = {  # row key -> (maximum ratio, what it is a ratio to)
    "trf:hooks": 1.5,
    "hutch:fisherlab/pyhessian": 0.5,
    "epoch:FP f=10": 1.10,
    "epoch:FP f=1": 2.5,
    "epoch:FP-FD f=10": 1.10,  # FP's gradient by finite differences (penalty_method option)
    "epoch:FP-FD f=1": 2.5,
    "data:fisherlab in-memory": 1.10,
}


# -- bookkeeping -----------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    model: str
    name: str
    seconds: float | None  # median; None when not timed (memory rows, skipped peers)
    ratio: float | None = None
    baseline: str = ""
    target: float | None = None
    value: str = ""
    note: str = ""
    repeats: int = 0

    def status(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        if self.ratio <= self.target:
            return f"met ({self.ratio:.2f}× ≤ {self.target:.2f}×)"
        over = self.ratio - self.target
        return f"**missed** by {over:.2f}× (+{100 * over / self.target:.0f}%)"


@dataclass
class Bench:
    args: argparse.Namespace
    device: torch.device
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(
            f"  {row.section:6} {row.model:10} {row.name:32} {_fmt_s(row.seconds):>9} "
            f"{_fmt_ratio(row.ratio):>8} {row.status()} {row.value} {row.note}",
            flush=True,
        )
        return row


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.3f} s" if s >= 0.01 else f"{1000 * s:.2f} ms"


def _fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, device: torch.device, warmup: bool = True
) -> dict[str, float]:
    """Median wall time of each function; repeats interleaved across functions."""
    if warmup:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def lockstep(
    factories: dict[str, Callable[[], Iterator[None]]], repeats: int, device: torch.device
) -> dict[str, float]:
    """Median over repeats of each row's summed step times, the rows advanced one step each in
    turn (an epoch of row A, then of row B, … would let a load change between them bias the
    ratios; step by step, every row sees the same load)."""
    totals: dict[str, list[float]] = {k: [] for k in factories}
    for _ in range(repeats):
        live = {k: f() for k, f in factories.items()}
        spent = dict.fromkeys(factories, 0.0)
        while live:
            for k in list(live):
                _sync(device)
                t0 = time.perf_counter()
                try:
                    next(live[k])
                except StopIteration:
                    del live[k]
                _sync(device)
                spent[k] += time.perf_counter() - t0
        for k, v in spent.items():
            totals[k].append(v)
    return {k: statistics.median(v) for k, v in totals.items()}


def parse_model(spec: str) -> tuple[str, dict[str, Any]]:
    """'vgg11' or 'vgg11:width=0.5' or 'wrn:depth=14,width=1,bn=False'."""
    name, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key.strip()] = ast.literal_eval(value.strip())
    return name, options


# -- data ------------------------------------------------------------------------------------


@dataclass
class Data:
    images: Tensor  # uint8 NCHW on device
    labels: Tensor
    mean: Tensor
    std: Tensor
    source: str


def load_data(examples: int, device: torch.device) -> Data:
    try:
        d = load_splits("cifar10", subset=examples, device=device)
        source = f"CIFAR-10 (balanced subset of {examples} training images)"
    except Exception as err:  # any failure: fall back to synthetic data
        d = load_splits(
            "synthetic",
            val_size=0,
            device=device,
            data_options={"train_size": examples, "test_size": 10},
        )
        source = f"synthetic (CIFAR-10 not available: {type(err).__name__})"
    return Data(d.train_images, d.train_labels, d.mean, d.std, source)


def model_for(name: str, options: dict[str, Any], device: torch.device) -> nn.Module:
    torch.manual_seed(SEED)
    return build_model(name, 10, **options).to(device)


# -- trf: Tr(F) on N examples ----------------------------------------------------------------


def _plain_fwd_bwd(model: nn.Module, x: Tensor, y: Tensor, chunk: int) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    for i in range(0, len(x), chunk):
        loss = F.cross_entropy(model(x[i : i + chunk]), y[i : i + chunk])
        torch.autograd.grad(loss, params)


def _loop_sq_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    out = torch.empty(len(x), dtype=torch.float64)
    for i in range(len(x)):
        loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
        out[i] = sum(float(g.double().pow(2).sum()) for g in torch.autograd.grad(loss, params))
    return out


def _backpack_fn(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], Tensor] | str:
    try:
        from backpack import backpack, extend
        from backpack.extensions import BatchL2Grad
    except ImportError:
        return "not installed (pip install -e .[bench])"
    bp_model = extend(copy.deepcopy(model).eval())
    loss_fn = extend(nn.CrossEntropyLoss(reduction="sum"))

    def run() -> Tensor:
        loss = loss_fn(bp_model(x), y)
        with backpack(BatchL2Grad()):
            loss.backward()
        sq = sum(p.batch_l2 for p in bp_model.parameters() if p.requires_grad)
        for p in bp_model.parameters():
            p.grad = None
            del p.batch_l2
        return sq.double()  # type: ignore[union-attr]

    try:
        run()
    except Exception as err:  # report the peer failure as a row
        return f"failed: {type(err).__name__}: {err}"[:120]
    return run


def bench_trf(b: Bench, label: str, model: nn.Module, data: Data) -> None:
    n, a = b.args.n, b.args
    x = normalize(data.images[:n], data.mean, data.std)
    y_true = data.labels[:n]
    model.eval()
    with torch.no_grad():
        y = sample_model_labels(model(x), torch.Generator().manual_seed(SEED))
    values: dict[str, float] = {}

    def trf(method: str) -> Callable[[], None]:
        def run() -> None:
            values[method] = trace_fisher(
                model, x, generator=torch.Generator().manual_seed(SEED), method=method
            )

        return run

    def loop() -> None:
        values["loop"] = float(_loop_sq_norms(model, x, y).mean())

    fns: dict[str, Callable[[], Any]] = {
        "plain": lambda: _plain_fwd_bwd(model, x, y_true, n),
        "hooks": trf("hooks"),
        "vmap": trf("vmap"),
    }
    bp = _backpack_fn(model, x, y)
    if callable(bp):

        def backpack_run() -> None:
            values["backpack"] = float(bp().mean())

        fns["backpack"] = backpack_run
    times = interleaved(fns, a.repeats, b.device)
    times.update(interleaved({"loop": loop}, a.loop_repeats, b.device, warmup=False))
    plain = times["plain"]
    ref = values["loop"]

    def agree(key: str) -> str:
        rel = abs(values[key] - ref) / abs(ref)
        ok = "✓" if rel <= 1e-5 else "✗ (> 1e-5)"
        return f"Tr(F) = {values[key]:.6g}, rel. diff. to loop {rel:.1e} {ok}"

    b.add(Row("trf", label, f"plain fwd+bwd ({n} ex.)", plain, 1.0, repeats=a.repeats))
    b.add(
        Row(
            "trf",
            label,
            "fisherlab hooks (default)",
            times["hooks"],
            times["hooks"] / plain,
            target=TARGETS["trf:hooks"],
            value=agree("hooks"),
            repeats=a.repeats,
        )
    )
    b.add(
        Row(
            "trf",
            label,
            "fisherlab vmap",
            times["vmap"],
            times["vmap"] / plain,
            value=agree("vmap"),
            repeats=a.repeats,
        )
    )
    b.add(
        Row(
            "trf",
            label,
            "batch-size-1 loop",
            times["loop"],
            times["loop"] / plain,
            value=f"Tr(F) = {ref:.6g} (reference)",
            repeats=a.loop_repeats,
        )
    )
    if callable(bp):
        b.add(
            Row(
                "trf",
                label,
                "BackPACK BatchL2Grad",
                times["backpack"],
                times["backpack"] / plain,
                value=agree("backpack"),
                note=f"fisherlab hooks / BackPACK = {times['hooks'] / times['backpack']:.2f}×",
                repeats=a.repeats,
            )
        )
    else:
        b.add(Row("trf", label, "BackPACK BatchL2Grad", None, note=bp))


# -- hutch: Hutchinson Tr(H) -----------------------------------------------------------------


def bench_hutch(b: Bench, label: str, model: nn.Module, data: Data) -> None:
    a, m = b.args, 30
    x = normalize(data.images[: a.hutch_batch], data.mean, data.std)
    y = data.labels[: a.hutch_batch]
    model.eval()
    values: dict[str, float] = {}
    spread: dict[str, float] = {}

    def ours() -> None:
        gen = torch.Generator().manual_seed(SEED)
        values["fisherlab"] = hutchinson_trace(model, x, y, probes=m, generator=gen)

    def exact() -> None:
        values["exact"] = trace_fisher(model, x, labels="exact", method="hooks")

    fns: dict[str, Callable[[], Any]] = {
        "plain": lambda: _plain_fwd_bwd(model, x, y, len(x)),
        "fisherlab": ours,
        "exact": exact,
    }
    try:
        from pyhessian import hessian
    except ImportError:
        hessian = None
    if hessian is not None:
        ph_model = copy.deepcopy(model)

        def theirs() -> None:
            torch.manual_seed(SEED)
            h = hessian(ph_model, nn.CrossEntropyLoss(), data=(x, y), cuda=b.device.type == "cuda")
            vhv = torch.tensor(h.trace(maxIter=m, tol=-math.inf), dtype=torch.float64)
            values["pyhessian"], spread["pyhessian"] = float(vhv.mean()), float(vhv.std() / m**0.5)
            ph_model.zero_grad(set_to_none=True)

        fns["pyhessian"] = theirs
    times = interleaved(fns, a.repeats, b.device)
    plain, r = times["plain"], a.repeats
    ref = values["exact"]

    def rel(key: str) -> str:
        return f"Tr(H) ≈ {values[key]:.5g} ({values[key] / ref - 1:+.1%} vs exact)"

    b.add(Row("hutch", label, f"plain fwd+bwd (batch {len(x)})", plain, 1.0, repeats=r))
    t_ours = times["fisherlab"]
    b.add(
        Row(
            "hutch",
            label,
            f"fisherlab M={m} (reverse-over-reverse HVPs)",
            t_ours,
            t_ours / plain,
            value=rel("fisherlab"),
            repeats=r,
        )
    )
    t_exact = times["exact"]
    b.add(
        Row(
            "hutch",
            label,
            "fisherlab exact Tr(F), hooks",
            t_exact,
            t_exact / plain,
            value=f"{ref:.5g} = Tr(H) of this piecewise-linear net (no probe noise)",
            repeats=r,
        )
    )
    if hessian is None:
        b.add(
            Row(
                "hutch",
                label,
                f"PyHessian M={m}",
                None,
                note="not installed (pip install -e .[bench])",
            )
        )
        return
    t_ph = times["pyhessian"]
    b.add(
        Row(
            "hutch",
            label,
            f"PyHessian M={m}",
            t_ph,
            t_ph / plain,
            value=rel("pyhessian") + f", s.e. {spread['pyhessian']:.2g}",
            repeats=r,
        )
    )
    b.add(
        Row(
            "hutch",
            label,
            "fisherlab Hutchinson / PyHessian",
            None,
            t_ours / t_ph,
            baseline="PyHessian",
            target=TARGETS["hutch:fisherlab/pyhessian"],
            note="same batch and probe count",
        )
    )
    b.add(
        Row(
            "hutch",
            label,
            "fisherlab exact Tr(F) / PyHessian",
            None,
            t_exact / t_ph,
            baseline="PyHessian",
            target=TARGETS["hutch:fisherlab/pyhessian"],
            note="exact Tr(H) via Tr(H) = Tr(F) (piecewise-linear nets), C backwards",
        )
    )


# -- epoch: one training epoch per regulariser -----------------------------------------------


def _regularizers() -> dict[str, Any]:
    from fisherlab.config import TrainConfig
    from fisherlab.regularizers import build_regularizer

    specs = {
        "plain": {"regularizer": "none"},
        "FP f=10": {"regularizer": "fp", "alpha": 0.01, "penalty_every": 10},
        "FP f=1": {"regularizer": "fp", "alpha": 0.01, "penalty_every": 1},
        "GP f=10": {"regularizer": "gp", "alpha": 0.01, "penalty_every": 10},
        "GPx f=10": {"regularizer": "gpx", "alpha": 0.01, "penalty_every": 10},
        "GPr f=10": {"regularizer": "gpr", "alpha": 0.01, "penalty_every": 10},
        "FP-FD f=10": {
            "regularizer": "fp",
            "alpha": 0.01,
            "penalty_every": 10,
            "penalty_method": "finite_difference",
        },
        "FP-FD f=1": {
            "regularizer": "fp",
            "alpha": 0.01,
            "penalty_every": 1,
            "penalty_method": "finite_difference",
        },
    }
    out = {}
    for name, spec in specs.items():
        try:
            out[name] = build_regularizer(TrainConfig(**spec), 10)
        except (TypeError, ValueError):  # an older fisherlab without this regulariser
            continue
    return out


def _sgd_step(
    model: nn.Module, opt: torch.optim.Optimizer, reg: Any, x: Tensor, y: Tensor, step: int
) -> None:
    """One step exactly as training makes it (fisherlab.step.sgd_step), minus the logging."""
    sgd_step(model, opt, reg, x, y, step=step, epoch=0, seed=SEED)


def _batches(data: Data, steps: int, aug: bool, epoch: int = 0) -> list[tuple[Tensor, Tensor]]:
    order = epoch_order(len(data.images), SEED, epoch).to(data.images.device)
    out = []
    for s in range(steps):
        idx = order[s * BATCH : (s + 1) * BATCH]
        images = data.images[idx]
        if aug:
            images = augment(images, step_generator(SEED, s, 0))
        out.append((normalize(images, data.mean, data.std), data.labels[idx]))
    return out


def bench_epoch(b: Bench, label: str, model: nn.Module, data: Data) -> None:
    a = b.args
    steps = a.epoch_steps
    batches = _batches(data, steps, aug=False)
    state = copy.deepcopy(model.state_dict())
    runs = {}
    for name, reg in _regularizers().items():
        m = copy.deepcopy(model)
        m.load_state_dict(state)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

        def epoch(m: nn.Module = m, opt: Any = opt, reg: Any = reg) -> Iterator[None]:
            for s, (x, y) in enumerate(batches):
                _sgd_step(m, opt, reg, x, y, s)
                yield

        _sgd_step(m, opt, reg, *batches[0], 0)  # warm-up outside the timing
        runs[name] = epoch
    times = lockstep(runs, a.epoch_repeats, b.device)
    plain = times["plain"]
    for name, t in times.items():
        target = TARGETS.get(f"epoch:{name}")
        b.add(
            Row(
                "epoch",
                label,
                f"{name} ({steps} steps)",
                t,
                t / plain,
                target=target,
                value=f"{t / steps:.3f} s/step",
                repeats=a.epoch_repeats,
            )
        )


# -- data: input pipelines -------------------------------------------------------------------


def bench_data(b: Bench, label: str, model: nn.Module, data: Data) -> None:
    a = b.args
    steps = a.epoch_steps
    n = steps * BATCH
    images, labels = data.images[:n], data.labels[:n]
    sub = Data(images, labels, data.mean, data.std, data.source)
    m = copy.deepcopy(model)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    from fisherlab.regularizers import NoRegularizer

    reg = NoRegularizer()
    fixed = _batches(sub, steps, aug=True)

    def compute() -> Iterator[None]:
        for s, (x, y) in enumerate(fixed):
            _sgd_step(m, opt, reg, x, y, s)
            yield

    def ours_batches(epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        order = epoch_order(n, SEED, epoch).to(images.device)
        for s in range(steps):
            idx = order[s * BATCH : (s + 1) * BATCH]
            x = augment(images[idx], step_generator(SEED, s, 0))
            yield normalize(x, data.mean, data.std), labels[idx]

    def ours() -> Iterator[None]:
        for s, (x, y) in enumerate(ours_batches(1)):
            _sgd_step(m, opt, reg, x, y, s)
            yield

    def ours_only() -> Iterator[None]:
        for _ in ours_batches(0):
            yield

    fns: dict[str, Callable[[], Iterator[None]]] = {
        "compute": compute,
        "ours": ours,
        "ours_only": ours_only,
    }
    tv_note = ""
    try:
        loader = _torchvision_loader(sub, a.workers)
    except ImportError as err:
        loader, tv_note = None, f"torchvision not usable: {err}"
    if loader is not None:

        def tv() -> Iterator[None]:
            for s, (x, y) in enumerate(loader):
                _sgd_step(m, opt, reg, x.to(b.device), y.to(b.device), s)
                yield

        def tv_only() -> Iterator[None]:
            for _ in loader:
                yield

        fns["tv"], fns["tv_only"] = tv, tv_only
    for f in fns.values():  # warm-up
        next(f())
    times = lockstep(fns, a.epoch_repeats, b.device)
    c = times["compute"]
    r = a.epoch_repeats
    b.add(Row("data", label, f"pure compute ({steps} steps, batches ready)", c, 1.0, repeats=r))
    b.add(
        Row(
            "data",
            label,
            "fisherlab in-memory",
            times["ours"],
            times["ours"] / c,
            target=TARGETS["data:fisherlab in-memory"],
            value=f"data alone {_fmt_s(times['ours_only'])}/epoch",
            repeats=r,
        )
    )
    if loader is None:
        b.add(Row("data", label, "torchvision DataLoader + PIL", None, note=tv_note))
        return
    b.add(
        Row(
            "data",
            label,
            f"torchvision DataLoader + PIL (workers={a.workers})",
            times["tv"],
            times["tv"] / c,
            value=f"data alone {_fmt_s(times['tv_only'])}/epoch",
            repeats=r,
        )
    )


def _torchvision_loader(data: Data, workers: int) -> torch.utils.data.DataLoader:
    from PIL import Image
    from torchvision import transforms

    hwc = data.images.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    labels = data.labels.cpu().tolist()
    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(data.mean.cpu().tolist(), data.std.cpu().tolist()),
        ]
    )

    class PilDataset(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(labels)

        def __getitem__(self, i: int) -> tuple[Tensor, int]:
            return tf(Image.fromarray(hwc[i])), labels[i]

    return torch.utils.data.DataLoader(
        PilDataset(),
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(SEED),
        persistent_workers=workers > 0,
    )


# -- memory: peak memory of Tr(F) by chunk size ----------------------------------------------


def _rss_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def memory_probe(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh process: peak memory above the resting state of one Tr(F) call."""
    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    name, options = spec["model"]
    model = model_for(name, options, device).eval()
    gen = torch.Generator(device=device).manual_seed(SEED)
    x = torch.randn(spec["n"], 3, 32, 32, generator=gen, device=device)
    y = torch.randint(0, 10, (spec["n"],), device=device)

    def run() -> None:
        if spec["method"] == "plain":
            _plain_fwd_bwd(model, x, y, spec["chunk"])
        else:
            trace_fisher(model, x, chunk_size=spec["chunk"], method=spec["method"])

    with torch.no_grad():
        model(x[:2])
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        return {"peak_mb": (torch.cuda.max_memory_allocated() - base) / 2**20}
    base = _rss_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current
    t0 = time.perf_counter()
    run()
    seconds = time.perf_counter() - t0
    return {"peak_mb": (_rss_kb("VmHWM") - base) / 1024, "seconds": seconds}


def bench_memory(b: Bench, label: str, name: str, options: dict[str, Any]) -> None:
    a = b.args
    n = a.n
    chunks = sorted({c for c in a.chunks if c <= n} | {n}, reverse=True)
    for method in ("plain", "hooks", "vmap"):
        for chunk in chunks if method != "plain" else [n]:
            spec = {
                "threads": torch.get_num_threads(),
                "device": str(b.device),
                "n": n,
                "model": [name, options],
                "method": method,
                "chunk": chunk,
            }
            if b.device.type == "cuda":
                res = memory_probe(spec)
            else:
                proc = subprocess.run(
                    [sys.executable, __file__, "--_memory-probe", json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    check=False,
                    env={**os.environ, "OMP_NUM_THREADS": str(spec["threads"])},
                )
                if proc.returncode != 0:
                    b.add(
                        Row(
                            "memory",
                            label,
                            f"{method} chunk {chunk}",
                            None,
                            note=f"failed: {proc.stderr.strip().splitlines()[-1:]}",
                        )
                    )
                    continue
                res = json.loads(proc.stdout.strip().splitlines()[-1])
            what = "plain fwd+bwd" if method == "plain" else f"Tr(F) {method}, chunk {chunk}"
            b.add(
                Row(
                    "memory",
                    label,
                    f"{what} ({n} ex.)",
                    None,
                    value=f"peak +{res['peak_mb']:.0f} MB",
                )
            )


# -- report ----------------------------------------------------------------------------------


def header(b: Bench, data_source: str, load: tuple[float, float, float]) -> list[str]:
    a = b.args
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    dev = str(b.device)
    if b.device.type == "cuda":
        dev += f" ({torch.cuda.get_device_name(b.device)})"
    peers = []
    for mod in ("backpack", "pyhessian"):
        try:
            __import__(mod)
            peers.append(mod)
        except ImportError:
            pass
    return [
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- mode: {'quick' if a.quick else 'full'}; command: `python {' '.join(sys.argv)}`",
        f"- machine: {cpu}, {os.cpu_count()} logical cores, {platform.system()}; "
        f"load average at start {load[0]:.2f} / end {os.getloadavg()[0]:.2f}",
        f"- python {platform.python_version()}, torch {torch.__version__}, device {dev}, "
        f"threads {torch.get_num_threads()}",
        f"- peers installed: {', '.join(peers) or 'none'}",
        f"- data: {data_source}",
        f"- sizes: Tr(F) N={a.n}; Hutchinson batch {a.hutch_batch}, M=30; epoch {a.epoch_steps} "
        f"steps of {BATCH}; repeats {a.repeats} (loop {a.loop_repeats}, epoch/data "
        f"{a.epoch_repeats}), median",
    ]


def table(rows: list[Row]) -> list[str]:
    out = [
        "| section | model | row | time | ratio | target | value / note |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        extra = "; ".join(x for x in (r.value, r.note) if x)
        out.append(
            f"| {r.section} | {r.model} | {r.name} | {_fmt_s(r.seconds)} | "
            f"{_fmt_ratio(r.ratio)} | {r.status()} | {extra} |"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats (minutes)")
    p.add_argument(
        "--model",
        action="append",
        help="name[:opt=val,...]; repeatable (default: simplecnn and resnet26)",
    )
    p.add_argument("--sections", default="trf,hutch,epoch,data,memory")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--n", type=int, default=None, help="examples for Tr(F) (512; quick 128)")
    p.add_argument("--hutch-batch", type=int, default=None, help="(128; quick 32)")
    p.add_argument("--epoch-steps", type=int, default=None, help="(100; quick 20)")
    p.add_argument("--repeats", type=int, default=None, help="(5; quick 3)")
    p.add_argument("--loop-repeats", type=int, default=None, help="(3; quick 1)")
    p.add_argument("--epoch-repeats", type=int, default=None, help="(3; quick 1)")
    p.add_argument("--chunks", default=None, help="Tr(F) chunk sizes for the memory rows")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--output", default=None, help="also write the report (markdown) here")
    p.add_argument("--_memory-probe", dest="memory_probe", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.memory_probe is not None:
        print(json.dumps(memory_probe(json.loads(a.memory_probe))))
        return
    q = a.quick
    a.n = a.n or (128 if q else 512)
    a.hutch_batch = a.hutch_batch or (32 if q else 128)
    a.epoch_steps = a.epoch_steps or (20 if q else 100)
    a.epoch_steps = max(10, 10 * round(a.epoch_steps / 10))  # whole periods of f = 10
    a.repeats = a.repeats or (3 if q else 5)
    a.loop_repeats = a.loop_repeats or (1 if q else 3)
    a.epoch_repeats = a.epoch_repeats or (1 if q else 3)
    a.chunks = [int(c) for c in (a.chunks or ("32" if q else "256,128,64,32")).split(",")]
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(a.device)
    sections = set(a.sections.split(","))
    models = [parse_model(s) for s in (a.model or ["simplecnn", "resnet26"])]
    load = os.getloadavg()
    b = Bench(a, device)
    data = load_data(max(a.n, a.hutch_batch, a.epoch_steps * BATCH), device)
    print(f"data: {data.source}; device {device}; threads {torch.get_num_threads()}", flush=True)
    for i, (name, options) in enumerate(models):
        label = name + (
            "" if not options else ":" + ",".join(f"{k}={v}" for k, v in options.items())
        )
        model = model_for(name, options, device)
        if "trf" in sections:
            bench_trf(b, label, model, data)
        if "hutch" in sections:
            bench_hutch(b, label, model, data)
        if "epoch" in sections:
            bench_epoch(b, label, model, data)
        if "data" in sections and i == 0:  # input-bound the most on the smallest model
            bench_data(b, label, model, data)
        if "memory" in sections:
            bench_memory(b, label, name, options)
    lines = ["## Benchmark results", "", *header(b, data.source, load), "", *table(b.rows), ""]
    report = "\n".join(lines)
    print("\n" + report)
    if a.output:
        Path(a.output).write_text(report)


if __name__ == "__main__":
    main()
