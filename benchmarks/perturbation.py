"""Speed of the extremal perturbation engine (ExtremalPerturbation3D / STEP).

Prints three tables:

(a) overhead: time per iteration of the engine divided by the time of a bare forward + backward (with
    respect to the input) of the same batch, on torchvision's ``r2plus1d_18`` (random weights) and on a
    tiny 3-D CNN (goal <= 1.15);
(b) batching: one call with B clips x A areas against B * A calls of one clip and one area, same work;
(c) convergence, for 3D-EP and STEP on a model whose evidence sits in a known box, several clips: the
    reference run (SGD, ``--ref-iters`` iterations, default 2000) against the faster option
    (``PerturbationSettings.fast``: Adam, schedule compressed into the budget) at several budgets
    (``--budgets``): final energy relative to the reference's, and mean |mask - reference mask|.

Run ``python benchmarks/perturbation.py --quick`` for a run of a few minutes on a small CPU; the defaults
are the paper's setting (16 x 112 x 112 clips).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoattr.methods.extremal import STEP, ExtremalPerturbation3D
from videoattr.methods.extremal.attributors import ExtremalPerturbationBase
from videoattr.methods.extremal.optimize import OptimizerName


def tiny_cnn3d(num_classes: int = 5) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv3d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


class LocalDetector(nn.Module):
    """Class 0 scores the fine detail of a fixed spatio-temporal box: a model with a known answer."""

    def __init__(self, box: tuple[slice, slice, slice]) -> None:
        super().__init__()
        self.box = box
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: Tensor) -> Tensor:
        smooth = F.avg_pool3d(x, (1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)
        t, h, w = self.box
        energy = (x - smooth)[:, :, t, h, w].pow(2).mean(dim=(1, 2, 3, 4))
        return torch.stack([self.scale * (energy - 0.3), torch.zeros_like(energy)], dim=1)


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def bare_step(model: nn.Module, x: Tensor) -> Callable[[], object]:
    def run() -> object:
        xg = x.detach().requires_grad_(True)
        loss = torch.log_softmax(model(xg), 1)[:, 1].sum()
        (grad,) = torch.autograd.grad(loss, xg)
        return grad

    return run


def overhead_and_batching(
    name: str, model: nn.Module, size: int, frames: int, iters: int, b: int, areas: list[float]
) -> None:
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    x = torch.randn(b, 3, frames, size, size)
    n = b * len(areas)
    rows = x.repeat_interleave(len(areas), dim=0)
    bare = timed(bare_step(model, rows), repeat=max(1, iters // 2))
    method = ExtremalPerturbation3D(model, max_iter=iters, progress=False)
    start = time.perf_counter()
    method.attribute(x, target=1, areas=areas)
    total = time.perf_counter() - start
    # Marginal cost of an iteration: subtract a 1-iteration call (clean forward, pyramid, final
    # probabilities and one iteration).
    start = time.perf_counter()
    method.attribute(x, target=1, areas=areas, max_iter=1)
    one = time.perf_counter() - start
    engine = (total - one) / (iters - 1)
    print(
        f"(a) {name:12s} {frames}x{size}x{size}, {n:2d} rows: bare fwd+bwd {bare * 1e3:8.1f} ms, "
        f"engine {engine * 1e3:8.1f} ms/iter, overhead x{engine / bare:.3f}"
    )
    start = time.perf_counter()
    for i in range(b):
        for a in areas:
            method.attribute(x[i : i + 1], target=1, areas=a)
    looped = time.perf_counter() - start
    print(
        f"(b) {name:12s} one call {b} clips x {len(areas)} areas: {total:7.2f} s; "
        f"{n} calls: {looped:7.2f} s; speed-up x{looped / total:.2f}"
    )


def convergence(
    method: type[ExtremalPerturbationBase],
    ref_iters: int,
    budgets: list[int],
    clips: int,
    size: int,
    frames: int,
) -> None:
    """Reference run against the fast option at several iteration budgets, on a model with a known box.

    With the schedule compressed into the budget, the fast run ends with the same weights as the
    reference, so final energies compare directly. "Reached" is the smallest budget whose final energy
    is at most the reference's + 1%.
    """
    box = (
        slice(frames // 4, frames // 4 + frames // 2),
        slice(size // 4, size // 2),
        slice(size // 3, size // 3 + size // 4),
    )
    model = LocalDetector(box)
    x = torch.randn(clips, 3, frames, size, size, generator=torch.Generator().manual_seed(0))
    reference = method(model, max_iter=ref_iters, progress=False)
    start = time.perf_counter()
    ref = reference.explain(x, target=0, areas=0.1)
    ref_time = time.perf_counter() - start
    # How soon the reference itself gets within 1% of its final energy (meaningful with constant weights).
    ref_hits = [
        int((ref.history.energy[i, 0] <= float(ref.final_energy[i, 0]) * 1.01).nonzero()[0]) + 1
        for i in range(clips)
    ]
    print(
        f"(c) {method.__name__}, {clips} clips {frames}x{size}x{size}, known-box model, area 0.1: reference "
        f"SGD {ref_iters} iters ({ref_time:.0f} s); final energy per clip "
        f"{[round(float(e), 3) for e in ref.final_energy[:, 0]]}; the reference is within 1% of it from "
        f"iteration {ref_hits}"
    )
    print(
        "    fast budget | optimiser | final energy / reference, per clip | |mask - ref| per clip | time"
    )
    reached: list[int | None] = [None] * clips
    options: list[tuple[OptimizerName, float]] = [("adam", 0.03), ("sgd", 0.05)]
    for budget in budgets:
        for optimizer, lr in options:
            settings = reference.settings.fast(budget, lr=lr, optimizer=optimizer)
            start = time.perf_counter()
            fast = method(model, settings=settings).explain(x, target=0, areas=0.1)
            elapsed = time.perf_counter() - start
            ratio = (fast.final_energy[:, 0] / ref.final_energy[:, 0]).tolist()
            mae = (fast.masks - ref.masks).abs().mean(dim=(1, 2, 3, 4)).tolist()
            if optimizer == "adam":
                for i, r in enumerate(ratio):
                    if reached[i] is None and r <= 1.01:
                        reached[i] = budget
            print(
                f"    {budget:11d} | {optimizer} lr {lr} | {[round(r, 4) for r in ratio]} | "
                f"{[round(m, 4) for m in mae]} | {elapsed:.0f} s"
            )
    print(f"    smallest Adam budget within 1% of the reference energy, per clip: {reached}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--iters", type=int, default=10, help="iterations timed in (a) and (b), >= 2"
    )
    parser.add_argument("--size", type=int, default=112, help="frame size for r2plus1d_18")
    parser.add_argument("--frames", type=int, default=16, help="clip length for r2plus1d_18")
    parser.add_argument("--clips", type=int, default=2, help="clips B in (a)/(b)")
    parser.add_argument("--areas", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--ref-iters", type=int, default=2000, help="reference iterations in (c)")
    parser.add_argument(
        "--budgets", type=int, nargs="+", default=[100, 200, 400], help="fast-option budgets in (c)"
    )
    parser.add_argument("--conv-clips", type=int, default=3, help="clips in (c)")
    parser.add_argument("--conv-size", type=int, default=32, help="frame size in (c)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: finishes in a few minutes on 2 cores"
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["r2plus1d", "tiny", "convergence"]
    )
    args = parser.parse_args()
    args.iters = max(args.iters, 2)
    if args.quick:
        args.size, args.frames, args.iters = (
            min(args.size, 64),
            min(args.frames, 8),
            min(args.iters, 3),
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    if "r2plus1d" not in args.skip:
        from torchvision.models.video import r2plus1d_18

        overhead_and_batching(
            "r2plus1d_18",
            r2plus1d_18(weights=None),
            args.size,
            args.frames,
            args.iters,
            args.clips,
            args.areas,
        )
    if "tiny" not in args.skip:
        overhead_and_batching(
            "tiny_cnn3d", tiny_cnn3d(), 56, 8, max(args.iters, 10), args.clips, args.areas
        )
    if "convergence" not in args.skip:
        for method in (ExtremalPerturbation3D, STEP):
            convergence(method, args.ref_iters, args.budgets, args.conv_clips, args.conv_size, 8)


if __name__ == "__main__":
    main()
