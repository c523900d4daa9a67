"""Cost and quality of the extremal perturbation engine (STEP, 3D-EP): what a user pays for a mask.

Seven sections, each a table (``--sections`` picks them):

``overhead``
    Time of one engine iteration divided by one bare forward + backward of the same rows (parameters
    frozen, input gradients only), for torchvision's ``r2plus1d_18`` at 16 x 112 x 112 (random weights),
    the shipped demo model at 16 x 56 x 56 and a small 3-layer 3-D CNN at 16 x 64 x 64, with 1, 4 and 8
    clips per call. Three mask generators are timed: ``fused`` (the default: the native pooling kernel
    where it can be built, see the table's heading), ``pytorch`` (the same pooling in PyTorch
    operations) and ``reference`` (the reference implementation's composition of unfold, upsampling and
    soft-max). Goals: at most 1.2x for
    ``r2plus1d_18``, at most 2x for the two small models; per clip, a batch must cost less than single runs.
``phases``
    Where an iteration's time goes (the engine's ``videoattr.extremal.*`` profiler ranges): mask
    generation forward and backward, perturbation, the model's forward, the area and smoothness terms, the
    rest of the backward pass and the optimiser step, per iteration, next to the bare forward + backward
    and to the cost of the generator's exponentials alone (one ``exp`` per neighbour and canvas pixel: a
    floor for any generator built from PyTorch operations).
``memory``
    Peak memory of a call against a bare forward + backward of the same rows, each measured in a
    fresh process (on the CPU: the peak resident set size, reset and read through ``/proc`` on
    Linux, above the resident size after a first call on a smaller clip, which loads what a process
    loads once). Goal: the engine needs at most the pyramid (8 blurred copies
    of the clips) more than the model's own forward + backward.
``setup``
    The fixed cost of a fast-preset call, from the engine's phases timed by the wall clock
    (``videoattr.core.phases``; on CUDA each phase waits for the device's work): everything that is
    not one of its iterations or its warm start (one forward + backward, counted as a pass in the
    ``presets`` section), as a share of the call: the blur pyramid (8 levels up to the paper's max
    blur of 20 pixels), the mask generator and energy terms, the final forward (the deleted clips;
    the preserved ones were scored by the last iteration) and the rest (the call's checks, the
    result). Beside it, the time of building the pyramid against the same blurs as zero-padded
    ``conv2d`` passes (the form the banded matrix products replaced) and against the pyramid built
    with one banded blur per width, stacked (``gaussian_blur_frames``: the form
    ``gaussian_blur_levels`` replaced, all widths of a clip in one product per pass). Goal: the
    set-up at most 5 %.
``speedup``
    Time per clip x area of the ``"fast"`` preset (one call for several clips and areas) against the
    reference implementation as it runs: one clip and one area per call, 2000 SGD iterations at 1.35x a
    bare forward + backward of one clip each (its measured per-iteration cost for ``r2plus1d_18``),
    modelled from the bare time measured in the same run. Goal: at least 100x faster at equal quality
    (the ``presets`` section measures the quality). With ``--device cuda`` the whole call is timed
    and all its rows go through the model at once (``max_batch_size=None``).
``presets``
    Speed-up and quality side by side, for STEP, 3D-EP and 2D-EP on held-out ``SyntheticMotion``
    clips with the demo model: every configuration of ``PRESET_CONFIGS`` (the fast preset, the
    earlier one and the variants that did not hold) against the paper's 2000-iteration run of the
    same clips, with the target's probability on the preserved clip, the mask's mass in the ground
    truth and its share in the evidence frames (means and bootstrap standard errors over the clips,
    and the paired differences to the paper's run), the forward + backward passes per clip x area
    (iterations, plus one for a warm start), the speed-up they model (2000 x 1.35 passes of the
    reference implementation) and the one measured (the call's time per clip against 2000 x 1.35
    bare passes of one clip, timed in the same run). ``--paper-cache DIR`` keeps the paper runs.
``quality``
    Quality against iterations on ``SyntheticMotion`` clips with the demo model: the target probability
    of the preserved clip and the share of the mask's mass inside the ground truth, for the paper's SGD
    at several run lengths (the schedule follows the run), Adam at two learning rates, against the
    2000-iteration paper run of the same clips. Writes the curves as a PNG (``--plot``).

``--device cuda`` runs the ``setup`` and ``speedup`` sections on a GPU (the others stay on the CPU).
Times are wall-clock minima over repeats (``--repeat``) with ``--threads`` threads; every overhead row
runs in a fresh process (``--no-isolate`` keeps them in one); the overhead ratios are medians over
``--rounds`` rounds (default 5) that time the bare pass and the engine back to back (a round's ratio compares
times taken seconds apart), so they hold up better than absolute times on a busy machine. ``--quick`` shrinks every
section to a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from videoattr.datasets.synthetic import SyntheticMotion
from videoattr.demo_model import DATASET_KWARGS, load_demo_model
from videoattr.methods._memory import GRADIENT_BATCH
from videoattr.methods.extremal import STEP, ExtremalPerturbation3D
from videoattr.methods.extremal.attributors import ExtremalPerturbationBase
from videoattr.methods.extremal.settings import FAST_MIN_REWARD_WEIGHT
from videoattr.metrics import mass_in_ground_truth

#: The reference implementation's per-iteration cost, in bare forward + backward passes of one clip.
REFERENCE_ITERATION_COST = 1.35
PAPER_ITERATIONS = 2000
#: Timings of the bare pass of one clip that the modelled reference is the fastest of: the pass is
#: short on the small models (20-40 ms), where 2 or 3 timings left the reference 2x apart between runs.
BARE_REPEAT = 10


def small_cnn3d(num_classes: int = 10) -> nn.Module:
    """A 3-layer 3-D CNN: the kind of cheap model where the engine's own work shows."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv3d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv3d(32, 64, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


#: Where the ``setup`` and ``speedup`` sections run (``--device``); the others run on the CPU.
DEVICE = torch.device("cpu")


def synchronize() -> None:
    """Wait for the work queued on `DEVICE` (a no-op on the CPU)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def call_rows() -> int | None:
    """``max_batch_size`` of the timed calls: all rows at once on a GPU, the library's default on the CPU."""
    return None if DEVICE.type == "cuda" else GRADIENT_BATCH


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Minimum wall-clock time of ``repeat`` calls after one warm-up call (the device's work done)."""
    fn()
    times = []
    for _ in range(repeat):
        synchronize()
        start = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_step(model: nn.Module, x: Tensor) -> Callable[[], object]:
    """One forward + backward to the input (parameters frozen)."""

    def run() -> object:
        xg = x.detach().requires_grad_(True)
        loss = torch.log_softmax(model(xg), 1)[:, 1].sum()
        (grad,) = torch.autograd.grad(loss, xg)
        return grad

    return run


def iteration_time(method: ExtremalPerturbationBase, x: Tensor, iters: int, repeat: int) -> float:
    """Marginal time of one iteration: (time of ``1 + iters`` iterations - time of 1) / iters."""
    one = best_time(lambda: method.attribute(x, target=1, max_iter=1), repeat)
    many = best_time(lambda: method.attribute(x, target=1, max_iter=1 + iters), repeat)
    return max(many - one, 0.0) / iters


def models(quick: bool) -> list[tuple[str, Callable[[], nn.Module], tuple[int, int]]]:
    from torchvision.models.video import r2plus1d_18

    frames = 8 if quick else 16
    return [
        ("r2plus1d_18", lambda: r2plus1d_18(weights=None), (frames, 64 if quick else 112)),
        ("demo model", load_demo_model, (16, 56)),
        ("3-layer CNN", small_cnn3d, (frames, 64)),
    ]


def selected(
    args: argparse.Namespace,
) -> Iterator[tuple[str, Callable[[], nn.Module], tuple[int, int], list[int]]]:
    """The models of ``--models`` with their clip shape and the batch sizes timed for each."""
    for name, build, shape in models(args.quick):
        if args.models and name not in args.models:
            continue
        limit = args.max_r2plus1d_batch if name == "r2plus1d_18" else None
        yield name, build, shape, [b for b in args.batches if limit is None or b <= limit]


def frozen(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def section_overhead(args: argparse.Namespace) -> None:
    from videoattr.core import native

    if not args.row_only:
        print("\n## overhead: one iteration / one bare forward+backward of the same rows")
        print(f"fused pooling: {native.status()}")
        print(
            "| model | clips | bare ms (min) | fused ms/iter (median) | fused ratio: median (range) "
            "| pytorch pooling ratio: median (range) | reference ratio: median (range) "
            "| fused ms/iter per clip |"
        )
        print("|---|---|---|---|---|---|---|---|")
    for name, build, (t, size), batches in selected(args):
        for b in batches:
            if args.isolate:
                # A fresh process per row: the allocator's state after a large model's run (a heap
                # grown and fragmented by gigabytes of activations) would otherwise slow the next rows.
                overhead_row_in_subprocess(args, name, b)
                continue
            model = frozen(build())
            x = torch.randn(b, 3, t, size, size)
            bare, timed = interleaved_ratios(model, x, args.iters, args.rounds)
            fused = timed["fused"]
            cells = [
                f"{r[1]:.2f} ({r[2]:.2f}-{r[3]:.2f})"
                for r in (timed["fused"], timed["pytorch"], timed["reference"])
            ]
            print(
                f"| {name} {t}x{size}x{size} | {b} | {bare * 1e3:.1f} | {fused[0] * 1e3:.1f} | "
                f"{cells[0]} | {cells[1]} | {cells[2]} | {fused[0] / b * 1e3:.1f} |",
                flush=True,
            )


def overhead_row_in_subprocess(args: argparse.Namespace, name: str, batch: int) -> None:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--sections",
        "overhead",
        "--no-isolate",
        "--row-only",
        "--models",
        name,
        "--batches",
        str(batch),
        "--iters",
        str(args.iters),
        "--repeat",
        str(args.repeat),
        "--rounds",
        str(args.rounds),
        "--max-r2plus1d-batch",
        str(args.max_r2plus1d_batch),
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.quick:
        command.append("--quick")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    rows = [line for line in done.stdout.splitlines() if line.startswith("|")]
    if done.returncode or not rows:
        raise RuntimeError(f"overhead row {name} x {batch} failed:\n{done.stderr[-2000:]}")
    print("\n".join(rows), flush=True)


def interleaved_ratios(
    model: nn.Module, x: Tensor, iters: int, repeat: int
) -> tuple[float, dict[str, tuple[float, float, float, float]]]:
    """Bare time and, per generator, (ms/iter, median ratio, min ratio, max ratio) over ``repeat`` rounds.

    Every round times a bare forward + backward, then for each generator a 1-iteration and a
    ``1 + iters``-iteration call, back to back: the ratio of a round compares times taken within seconds
    of each other, so a busy machine's slow spells (which change absolute times by 2x on a shared VM)
    mostly cancel; the median of the rounds is reported with their range.
    """
    bare_fn = bare_step(model, x)
    methods = {
        g: STEP(model, generator=g, progress=False, max_batch_size=None)
        for g in ("fused", "pytorch", "reference")
    }
    bare_fn()
    for m in methods.values():
        m.attribute(x, target=1, max_iter=1)
    bares: list[float] = []
    per_iter: dict[str, list[float]] = {g: [] for g in methods}
    ratios: dict[str, list[float]] = {g: [] for g in methods}
    for _ in range(repeat):
        start = time.perf_counter()
        bare_fn()
        bare = time.perf_counter() - start
        bares.append(bare)
        for g, m in methods.items():
            start = time.perf_counter()
            m.attribute(x, target=1, max_iter=1)
            one = time.perf_counter() - start
            start = time.perf_counter()
            m.attribute(x, target=1, max_iter=1 + iters)
            many = time.perf_counter() - start
            it = max(many - one, 0.0) / iters
            per_iter[g].append(it)
            ratios[g].append(it / bare)

    def summary(g: str) -> tuple[float, float, float, float]:
        r = ratios[g]
        return (statistics.median(per_iter[g]), statistics.median(r), min(r), max(r))

    return min(bares), {g: summary(g) for g in methods}


PHASES = ("masks", "pool backward", "perturb", "model", "area", "smoothness", "backward", "step")


def section_phases(args: argparse.Namespace) -> None:
    from torch.profiler import ProfilerActivity, profile

    from videoattr.methods.extremal import masks
    from videoattr.methods.extremal.masks import MaskGenerator

    print("\n## phases: ms per iteration (profiled, so a little slower than unprofiled)")
    print(
        "| model | clips | bare | "
        + " | ".join(PHASES)
        + " | total | generator exp alone | generator fwd+bwd / bare |"
    )
    print("|---|---|---|" + "---|" * (len(PHASES) + 3))
    for name, build, (t, size), batches in selected(args):
        model = frozen(build())
        for b in batches:
            x = torch.randn(b, 3, t, size, size)
            bare = best_time(bare_step(model, x), args.repeat)
            method = STEP(model, progress=False)
            method.attribute(x, target=1, max_iter=1)
            iters = max(args.iters, 2)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                method.attribute(x, target=1, max_iter=iters)
            total: dict[str, float] = {}
            for event in prof.key_averages():
                key = event.key.replace("videoattr.extremal.", "")
                if event.key.startswith(
                    (
                        "autograd::engine::evaluate_function: SoftmaxPool",
                        "autograd::engine::evaluate_function: NativeSoftmaxPool",
                    )
                ):
                    key = "pool backward"
                total[key] = total.get(key, 0.0) + event.cpu_time_total / 1e3 / iters
            settings = method.settings
            gen = MaskGenerator((size, size), settings.step, settings.sigma_for(size, size))
            assert gen.cell_weight is not None
            k, s = gen.cell_weight.shape[0], gen.step
            # in the chunks of frames the generator works on
            row_bytes = k * s * s * gen.mid_shape[0] * gen.mid_shape[1] * 4
            rows = max(1, masks.POOL_CHUNK_BYTES // row_bytes)
            chunks = [
                torch.rand(k, s, s, min(rows, b * t - i), *gen.mid_shape)
                for i in range(0, b * t, rows)
            ]
            exp_alone = best_time(lambda c=chunks: [torch.exp(v) for v in c], args.repeat) * 1e3
            phases = [total.get(p, 0.0) for p in PHASES]
            # "backward" includes the pooling's backward and the model's: keep the rest apart.
            backward_rest = phases[PHASES.index("backward")] - phases[PHASES.index("pool backward")]
            phases[PHASES.index("backward")] = backward_rest
            generator = phases[0] + phases[1]
            print(
                f"| {name} | {b} | {bare * 1e3:.1f} | "
                + " | ".join(f"{v:.1f}" for v in phases)
                + f" | {sum(phases):.1f} | {exp_alone:.1f} | {generator / (bare * 1e3):.2f} |",
                flush=True,
            )


def resident_mb() -> float:
    """This process's resident set size now (MB), after returning freed heap memory to the system."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def reset_peak() -> bool:
    """Reset this process's peak resident size (Linux ``clear_refs``); whether that worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb(reset: bool) -> float:
    """The peak resident size (MB) since :func:`reset_peak`, else over the process's life.

    ``ru_maxrss`` alone can start at the parent's size (a forked child keeps its high-water mark
    through ``exec``), hence the reset where Linux allows it.
    """
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_growth_mb(kind: str, name: str, batch: int, quick: bool, iters: int) -> float:
    """In this process: the peak RSS growth (MB) of a bare pass or of a short STEP call.

    A first call on one clip at half the size loads what a process loads once (kernels, libraries,
    thread pools); the growth is measured from the resident size after it.
    """
    build, (t, size) = next((b, shape) for n, b, shape in models(quick) if n == name)
    model = frozen(build())
    x = torch.randn(batch, 3, t, size, size)
    small = x[:1, :, :, : size // 2, : size // 2].clone()
    method = None if kind == "bare" else STEP(model, progress=False, generator=kind)
    if method is None:
        bare_step(model, small)()
    else:
        method.attribute(small, target=1, max_iter=iters)
    base = resident_mb()
    reset = reset_peak()
    if method is None:
        bare_step(model, x)()
    else:
        method.attribute(x, target=1, max_iter=iters)
    return peak_mb(reset) - base


def section_memory(args: argparse.Namespace) -> None:
    print("\n## memory: peak growth of one call (MB), each in a fresh process")
    print(
        "| model | clips | bare forward + backward | STEP, fused | STEP, PyTorch pooling | "
        "pyramid | fused - bare - pyramid | fused / bare |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, _, (t, size), batches in selected(args):
        for b in batches:
            peaks = {}
            for kind in ("bare", "fused", "pytorch"):
                command = [sys.executable, str(Path(__file__).resolve()), "--memory-probe"]
                command += [kind, name, str(b), "--iters", str(args.iters)]
                if args.threads:
                    command += ["--threads", str(args.threads)]
                if args.quick:
                    command.append("--quick")
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode:
                    raise RuntimeError(f"memory probe {kind} failed:\n{done.stderr[-2000:]}")
                peaks[kind] = float(done.stdout.strip().splitlines()[-1])
            pyramid = b * 3 * t * size * size * 8 * 4 / 2**20
            excess = peaks["fused"] - peaks["bare"] - pyramid
            print(
                f"| {name} {t}x{size}x{size} | {b} | {peaks['bare']:.0f} | {peaks['fused']:.0f} | "
                f"{peaks['pytorch']:.0f} | {pyramid:.0f} | {excess:+.0f} | "
                f"{peaks['fused'] / peaks['bare']:.2f} |",
                flush=True,
            )


def conv_blur(x: Tensor, sigma: float) -> Tensor:
    """The separable blur as two zero-padded ``conv2d`` passes: the baseline of the ``setup`` section."""
    from videoattr.core.ops import gaussian_kernel1d

    b, c, t, h, w = x.shape
    taps = gaussian_kernel1d(sigma, x.device, x.dtype)
    r = (taps.numel() - 1) // 2
    frames = x.reshape(b * c * t, 1, h, w)
    frames = torch.nn.functional.conv2d(frames, taps.view(1, 1, -1, 1), padding=(r, 0))
    frames = torch.nn.functional.conv2d(frames, taps.view(1, 1, 1, -1), padding=(0, r))
    return frames.view(b, c, t, h, w)


SETUP_PHASES = ("pyramid", "setup", "final")


def timed_call(
    method: ExtremalPerturbationBase, x: Tensor, repeat: int, **options: Any
) -> tuple[float, dict[str, float]]:
    """The fastest of ``repeat`` calls (after a warm-up): its wall time and its phases' seconds."""
    from videoattr.core.phases import timed_phases

    method.attribute(x, target=1, **options)
    best: tuple[float, dict[str, float]] | None = None
    for _ in range(repeat):
        synchronize()
        with timed_phases() as seconds:
            start = time.perf_counter()
            method.attribute(x, target=1, **options)
            synchronize()
            wall = time.perf_counter() - start
        if best is None or wall < best[0]:
            best = (wall, dict(seconds))
    assert best is not None
    return best


def pyramid_per_width(x: Tensor, sigmas: Sequence[float]) -> Tensor:
    """The pyramid built as before ``gaussian_blur_levels``: a banded blur per width, stacked.

    Clip by clip, each clip's levels stacked into its block of the pyramid (levels last): the
    baseline of the ``setup`` section's second column.
    """
    from videoattr.core.ops import gaussian_blur_frames

    pyramid = x.new_empty((*x.shape, len(sigmas)))
    for i in range(x.shape[0]):
        clip = x[i : i + 1]
        levels = [gaussian_blur_frames(clip, s) for s in sigmas]
        torch.stack(levels, dim=-1, out=pyramid[i : i + 1])
    return pyramid


def section_setup(args: argparse.Namespace) -> None:
    from videoattr.core.pyramid import Perturbation

    sigmas = [(1 - f) * 20.0 for f in torch.linspace(0, 1, 8).tolist()]  # the last is 0
    print(
        "\n## setup: the fixed cost of a fast call, from the engine's timed phases "
        f"({DEVICE.type}; `videoattr.core.phases`)"
    )
    print(
        "| model | clips | blurs as conv2d / pyramid | pyramid of a blur per width / pyramid "
        "| fast call s | iteration ms "
        "| warm start | pyramid | set-up (generator, terms) | final forward | rest of the call "
        "| **set-up share** |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, build, (t, size), batches in selected(args):
        model = frozen(build()).to(DEVICE)
        for b in batches:
            x = torch.randn(b, 3, t, size, size, device=DEVICE)
            conv = best_time(lambda c=x: [conv_blur(c, s) for s in sigmas if s > 0], args.repeat)
            per_width = best_time(lambda c=x: pyramid_per_width(c, sigmas), args.repeat)
            pyramid = best_time(lambda c=x: Perturbation(c), args.repeat)
            fast = STEP(model, preset="fast", progress=False, max_batch_size=call_rows())
            wall, seconds = timed_call(fast, x, args.repeat)
            phase = {k.removeprefix("extremal."): v for k, v in seconds.items()}
            loop = phase["iterations"]
            fixed = wall - loop - phase.get("warm_start", 0.0)
            rest = fixed - sum(phase.get(p, 0.0) for p in SETUP_PHASES)
            shares = [phase.get(p, 0.0) / wall for p in ("warm_start", *SETUP_PHASES)]
            print(
                f"| {name} {t}x{size}x{size} | {b} | {conv / pyramid:.1f}x | "
                f"{per_width / pyramid:.2f}x | {wall:.2f} | "
                f"{loop / fast.settings.max_iter * 1e3:.0f} | "
                + " | ".join(f"{v:.1%}" for v in shares)
                + f" | {rest / wall:.1%} | **{fixed / wall:.1%}** |",
                flush=True,
            )


def section_speedup(args: argparse.Namespace) -> None:
    print(
        "\n## speedup: time per clip x area, fast preset (one call) vs the reference implementation "
        f"({DEVICE.type})"
    )
    print(
        "| model | clips x areas per call | fast s per clip x area | reference s per clip x area "
        "(modelled: 2000 x 1.35 x bare) | speed-up |"
    )
    print("|---|---|---|---|---|")
    areas = [0.05, 0.1]
    for name, build, (t, size) in models(args.quick):
        if args.models and name not in args.models:
            continue
        model = frozen(build()).to(DEVICE)
        b = args.speedup_clips or (1 if name == "r2plus1d_18" else 4)
        x = torch.randn(b, 3, t, size, size, device=DEVICE)
        bare_one = best_time(bare_step(model, x[:1]), max(args.repeat, BARE_REPEAT))
        reference = PAPER_ITERATIONS * REFERENCE_ITERATION_COST * bare_one
        fast = STEP(model, preset="fast", areas=areas, progress=False, max_batch_size=call_rows())
        iters = fast.settings.max_iter
        if DEVICE.type == "cuda":  # a whole call takes seconds: time it
            total = best_time(lambda f=fast, c=x: f.attribute(c, target=1), args.repeat)
        else:
            # The iterations are alike: time 1 and 1 + args.iters, extrapolate to the preset's.
            one = best_time(lambda f=fast, c=x: f.attribute(c, target=1, max_iter=1), args.repeat)
            per_iter = iteration_time(fast, x, args.iters, args.repeat)
            total = one + (iters - 1) * per_iter
        per = total / (b * len(areas))
        print(
            f"| {name} {t}x{size}x{size} | {b} x {len(areas)} | {per:.2f} | {reference:.1f} | "
            f"{reference / per:.1f}x |",
            flush=True,
        )


def run_quality(
    method: type[ExtremalPerturbationBase],
    model: nn.Module,
    clips: Tensor,
    labels: Tensor,
    gt: Tensor,
    area: float,
    **options: Any,
) -> tuple[Tensor, Tensor, Tensor, float]:
    attributor = method(model, areas=area, progress=False)
    attributor.settings = attributor.settings.replace(**options)
    start = time.perf_counter()
    result = attributor.optimize(clips, target=labels)
    elapsed = time.perf_counter() - start
    mass = mass_in_ground_truth(result.masks, gt)
    return result.masks, result.preserved_probability[:, 0], mass, elapsed


def section_quality(args: argparse.Namespace) -> None:
    print(
        "\n## quality against iterations (SyntheticMotion, demo model, area "
        f"{args.area}, {args.clips} clips; means over clips)"
    )
    model = frozen(load_demo_model())
    batch = SyntheticMotion(seed=args.data_seed, **DATASET_KWARGS).sample(args.clips)
    method = STEP if args.method == "step" else ExtremalPerturbation3D
    ref_iters = args.paper_iterations
    if args.reference:
        # A stored paper run of the same clips (tests/data/make_paper_step_reference.py writes one).
        stored = torch.load(args.reference, weights_only=True)
        if not torch.equal(stored["labels"], batch.labels) or stored["area"] != args.area:
            raise SystemExit(f"{args.reference} holds other clips or another area than this run")
        masks_ref, p_ref = stored["masks"], stored["preserved_probability"][:, 0]
        m_ref, t_ref, ref_iters = stored["mass_in_ground_truth"], float("nan"), stored["iterations"]
    else:
        masks_ref, p_ref, m_ref, t_ref = run_quality(
            method, model, batch.clips, batch.labels, batch.masks, args.area, max_iter=ref_iters
        )
    print(
        f"reference: paper SGD, {ref_iters} iterations: p(target | preserved) "
        f"{p_ref.mean():.3f} (per clip {[round(v, 3) for v in p_ref.tolist()]}), mass in ground truth "
        f"{m_ref.mean():.3f}, {t_ref:.0f} s for {args.clips} clips"
    )
    cold = {"warm_start": "none"}
    fast_reward = max(method(model).settings.reward_weight, FAST_MIN_REWARD_WEIGHT)
    every: list[tuple[str, dict[str, Any], Sequence[int]]] = [
        ("paper SGD lr 0.05", {"optimizer": "sgd", "lr": 0.05, **cold}, args.budgets),
        ("Adam lr 0.05", {"optimizer": "adam", "lr": 0.05, **cold}, args.budgets),
        ("Adam lr 0.1", {"optimizer": "adam", "lr": 0.1, **cold}, args.budgets),
        ("Adam lr 0.2", {"optimizer": "adam", "lr": 0.2, **cold}, args.budgets),
        (
            "Adam lr 0.2, warm start",
            {"optimizer": "adam", "lr": 0.2, "warm_start": "gradient"},
            args.budgets,
        ),
        (
            f"Adam lr 0.2, warm start, reward weight {fast_reward:g} (fast)",
            {
                "optimizer": "adam",
                "lr": 0.2,
                "warm_start": "gradient",
                "reward_weight": fast_reward,
            },
            args.budgets,
        ),
    ]
    configs = [c for c in every if args.configs is None or c[0] in args.configs]
    print(
        "| optimiser | iterations | p(target, preserved) | vs paper | mass in GT | vs paper | "
        "mean abs mask diff | s per clip |"
    )
    print("|---|---|---|---|---|---|---|---|")
    curves: dict[str, list[tuple[int, float, float]]] = {}
    for label, options, budgets in configs:
        for n in budgets:
            masks, p, m, t = run_quality(
                method,
                model,
                batch.clips,
                batch.labels,
                batch.masks,
                args.area,
                max_iter=n,
                **options,
            )
            diff = float((masks - masks_ref).abs().mean())
            curves.setdefault(label, []).append((n, float(p.mean()), float(m.mean())))
            print(
                f"| {label} | {n} | {p.mean():.3f} | {p.mean() - p_ref.mean():+.3f} | {m.mean():.3f} | "
                f"{m.mean() - m_ref.mean():+.3f} | {diff:.3f} | {t / args.clips:.2f} |",
                flush=True,
            )
    if args.plot and args.add_to:
        # Curves of an earlier run of the same clips (same paper reference) drawn beside these.
        earlier = json.loads(Path(args.add_to).read_text())
        if [round(v, 3) for v in earlier["reference"][1:]] != [
            round(float(p_ref.mean()), 3),
            round(float(m_ref.mean()), 3),
        ]:
            raise SystemExit(f"{args.add_to} was measured against another paper run")
        curves = {**{k: [tuple(p) for p in v] for k, v in earlier["curves"].items()}, **curves}
    if args.plot:
        Path(args.plot).with_suffix(".json").write_text(
            json.dumps(
                {
                    "curves": curves,
                    "reference": [ref_iters, float(p_ref.mean()), float(m_ref.mean())],
                },
                indent=1,
            )
        )
        plot_curves(
            curves,
            reference=(ref_iters, float(p_ref.mean()), float(m_ref.mean())),
            path=Path(args.plot),
            title=f"{method.__name__} on {args.clips} SyntheticMotion clips (demo model), area {args.area}",
        )
        print(f"wrote {args.plot}")


#: Configurations compared with the paper's schedule in the ``presets`` section: a label and the
#: keywords of ``PerturbationSettings.fast`` applied to the method's paper settings.
PRESET_CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("fast (20 Adam it., lr 0.2, gradient warm start, reward weight >= 8)", {}),
    (
        "previous fast (30 Adam it., lr 0.2, warm start, own reward weight)",
        {"iterations": 30, "min_reward_weight": 0.0},
    ),
    ("20 Adam it., warm start, own reward weight", {"iterations": 20, "min_reward_weight": 0.0}),
    ("25 Adam it., warm start, reward weight >= 4", {"iterations": 25, "min_reward_weight": 4.0}),
    ("15 Adam it., warm start, reward weight >= 8", {"iterations": 15}),
    ("10 Adam it., warm start, reward weight >= 8", {"iterations": 10}),
    (
        "earlier fast (200 Adam it., lr 0.05, cold start, own reward weight)",
        {"iterations": 200, "lr": 0.05, "warm_start": "none", "min_reward_weight": 0.0},
    ),
    (
        "30 Adam it., lr 0.2, cold start, own reward weight",
        {"iterations": 30, "warm_start": "none", "min_reward_weight": 0.0},
    ),
]


def paired_bootstrap(values: Tensor, resamples: int = 2000, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Means ``(M,)`` of ``(B, M)`` per-clip values and their bootstrap standard errors over the clips."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(0, values.shape[0], (resamples, values.shape[0]), generator=generator)
    return values.mean(0), values[index].mean(1).std(0)


def quality_measures(masks: Tensor, preserved: Tensor, gt: Tensor) -> Tensor:
    """``(B, 4)`` per clip: p(target | preserved), mass in the ground truth, evidence-frame share
    and the mask's area (its mean value)."""
    from videoattr.metrics import achieved_area, evidence_frame_share

    mass = mass_in_ground_truth(masks, gt).float()
    share = evidence_frame_share(masks, gt).float()
    area = achieved_area(masks)[:, 0].float()
    return torch.stack([preserved.float(), mass, share, area], dim=1)


#: The measures that must hold (the first three of ``quality_measures``); the area is reported.
HELD_MEASURES = 3


def section_presets(args: argparse.Namespace) -> None:
    """Speed-up and quality side by side: each configuration against the paper's schedule."""
    from videoattr.methods.extremal import ExtremalPerturbation2D

    methods: dict[str, type[ExtremalPerturbationBase]] = {
        "step": STEP,
        "ep3d": ExtremalPerturbation3D,
        "ep2d": ExtremalPerturbation2D,
    }
    model = frozen(load_demo_model())
    batch = SyntheticMotion(seed=args.data_seed, **DATASET_KWARGS).sample(args.clips)
    x1 = batch.clips[:1]
    bare_one = best_time(bare_step(model, x1), max(args.repeat, BARE_REPEAT))
    print(
        f"\n## presets: speed-up and quality against the paper's schedule ({args.clips} held-out "
        f"SyntheticMotion clips, seed {args.data_seed}, demo model, area {args.area}; mean ± "
        "bootstrap standard error over the clips; 'holds' = p, mass and share each at least the "
        "paper's mean minus its standard error; the area is the mask's mean value, reported)"
    )
    print(
        "| method | configuration | iterations | passes per clip x area | modelled speed-up "
        "| measured speed-up | p(target \\| preserved) | Δ paper | mass in ground truth | Δ paper "
        "| evidence-frame share | Δ paper | area | Δ paper | holds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    reference_s = PAPER_ITERATIONS * REFERENCE_ITERATION_COST * bare_one
    for name in args.methods:
        method = methods[name]
        cache = (
            Path(args.paper_cache) / f"paper_{name}_{args.clips}_{args.data_seed}_{args.area}.pt"
        )
        if args.paper_cache and cache.exists():
            stored = torch.load(cache, weights_only=True)
            if not torch.equal(stored["labels"], batch.labels):
                raise SystemExit(f"{cache} holds other clips than this run")
            paper_masks, paper_p = stored["masks"].float(), stored["p"]
        else:
            paper_masks, paper_p, _, _ = run_quality(
                method,
                model,
                batch.clips,
                batch.labels,
                batch.masks,
                args.area,
                max_iter=PAPER_ITERATIONS,
            )
            if args.paper_cache:
                cache.parent.mkdir(parents=True, exist_ok=True)
                torch.save(
                    {"masks": paper_masks.half(), "p": paper_p, "labels": batch.labels}, cache
                )
        paper = quality_measures(paper_masks, paper_p, batch.masks)
        p_mean, p_se = paired_bootstrap(paper)
        cells = " | ".join(
            f"{m:.3f} ± {e:.3f} | —" for m, e in zip(p_mean.tolist(), p_se.tolist(), strict=True)
        )
        print(
            f"| {name} | paper (SGD, 2000 iterations) | {PAPER_ITERATIONS} | "
            f"{PAPER_ITERATIONS * REFERENCE_ITERATION_COST:.0f} | 1.0x | 1.0x | {cells} | — |"
        )
        for label, config in PRESET_CONFIGS:
            if args.configs is not None and label not in args.configs:
                continue
            attributor = method(model, areas=args.area, progress=False)
            attributor.settings = attributor.settings.fast(**config)
            settings = attributor.settings
            start = time.perf_counter()
            result = attributor.optimize(batch.clips, target=batch.labels)
            elapsed = (time.perf_counter() - start) / args.clips
            values = quality_measures(result.masks, result.preserved_probability[:, 0], batch.masks)
            mean, se = paired_bootstrap(values)
            diff, diff_se = paired_bootstrap(values - paper)
            held = slice(0, HELD_MEASURES)
            holds = bool((mean[held] >= p_mean[held] - p_se[held]).all())
            passes = result.iterations + (1 if settings.warm_start != "none" else 0)
            modelled = PAPER_ITERATIONS * REFERENCE_ITERATION_COST / passes
            cells = " | ".join(
                f"{m:.3f} ± {e:.3f} | {d:+.3f} ± {de:.3f}"
                for m, e, d, de in zip(
                    mean.tolist(), se.tolist(), diff.tolist(), diff_se.tolist(), strict=True
                )
            )
            print(
                f"| {name} | {label} | {result.iterations} | {passes} | {modelled:.0f}x | "
                f"{reference_s / elapsed:.0f}x | {cells} | {'yes' if holds else 'no'} |",
                flush=True,
            )


def plot_curves(
    curves: dict[str, list[tuple[int, float, float]]],
    reference: tuple[int, float, float],
    path: Path,
    title: str,
) -> None:
    """Two panels (preserved probability, mass in ground truth) against log iterations, drawn with PIL."""
    from PIL import Image, ImageDraw, ImageFont

    width, plot_height, margin = 1200, 520, 70
    legend_rows = (len(curves) + 1) // 2
    height = plot_height + 24 * legend_rows + 16
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    try:
        font: Any = ImageFont.load_default(size=16)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    colours = [
        (31, 119, 180),
        (214, 39, 40),
        (44, 160, 44),
        (148, 103, 189),
        (255, 127, 14),
        (23, 190, 207),
    ]
    all_iters = [n for pts in curves.values() for n, _, _ in pts] + [reference[0]]
    lo, hi = math.log10(min(all_iters)) - 0.1, math.log10(max(all_iters)) + 0.1
    draw.text((margin, 12), title, fill="black", font=font)
    panels = [("p(target | preserved clip)", 1), ("mass of the mask inside the ground truth", 2)]
    panel_w = (width - 3 * margin) // 2
    for i, (name, idx) in enumerate(panels):
        x0, y0 = margin + i * (panel_w + margin), 60
        x1, y1 = x0 + panel_w, plot_height - margin
        values = [pt[idx] for pts in curves.values() for pt in pts] + [reference[idx]]
        vmin, vmax = min(values), max(values)
        pad = max(0.02, 0.1 * (vmax - vmin))
        vmin, vmax = max(0.0, vmin - pad), min(1.0, vmax + pad)

        def to_xy(
            n: float,
            v: float,
            x0: int = x0,
            x1: int = x1,
            y0: int = y0,
            y1: int = y1,
            vmin: float = vmin,
            vmax: float = vmax,
        ) -> tuple[float, float]:
            fx = (math.log10(n) - lo) / (hi - lo)
            fy = (v - vmin) / (vmax - vmin) if vmax > vmin else 0.5
            return x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)

        draw.rectangle((x0, y0, x1, y1), outline="black")
        draw.text((x0, y1 + 30), f"{name} against iterations (log scale)", fill="black", font=font)
        for k in range(5):
            v = vmin + (vmax - vmin) * k / 4
            _, y = to_xy(10**lo, v)
            draw.line((x0 - 5, y, x0, y), fill="black")
            draw.text((x0 - 48, y - 8), f"{v:.2f}", fill="black", font=font)
        last_label = -1e9
        for n in sorted(set(all_iters)):
            x, _ = to_xy(n, vmin)
            draw.line((x, y1, x, y1 + 5), fill="black")
            if x - last_label >= 34:  # labels of close ticks (25 beside 20 and 30) would overlap
                draw.text((x - 14, y1 + 8), str(n), fill="black", font=font)
                last_label = x
        xr, yr = to_xy(reference[0], reference[idx])
        for xs in range(x0, x1, 12):
            draw.line((xs, yr, xs + 6, yr), fill=(90, 90, 90))
        draw.ellipse((xr - 6, yr - 6, xr + 6, yr + 6), outline="black", width=2)
        note = f"paper, {reference[0]} it."  # under the circle, right of every curve
        note_w = draw.textlength(note, font=font)
        draw.text(
            (min(xr - note_w / 2, x1 - note_w - 6), yr + 10), note, fill=(60, 60, 60), font=font
        )
        for c, (label, pts) in enumerate(curves.items()):
            colour = colours[c % len(colours)]
            xy = [to_xy(p[0], p[idx]) for p in pts]
            draw.line(xy, fill=colour, width=3)
            for x, y in xy:
                draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
            if i == 0:  # the legend: two columns under the panels, clear of every curve
                lx = margin + (c % 2) * (panel_w + margin)
                ly = plot_height + 24 * (c // 2)
                draw.line((lx, ly + 9, lx + 25, ly + 9), fill=colour, width=3)
                draw.text((lx + 32, ly), label, fill=colour, font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["overhead", "speedup", "quality"],
        choices=["overhead", "phases", "memory", "setup", "speedup", "quality", "presets"],
    )
    parser.add_argument(
        "--batches", type=int, nargs="+", default=None, help="clips per call (default: 1 4 8)"
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        choices=["r2plus1d_18", "demo model", "3-layer CNN"],
        help="models of 'overhead' and 'speedup' (default: all three)",
    )
    parser.add_argument(
        "--max-r2plus1d-batch",
        type=int,
        default=8,
        help="largest batch timed for r2plus1d_18 (it is slow on a CPU)",
    )
    parser.add_argument("--iters", type=int, default=3, help="iterations timed per measurement")
    parser.add_argument("--repeat", type=int, default=2, help="repeats per timing (minimum taken)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds of the overhead section (their median ratio is reported, with the range)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--method", choices=["step", "ep3d"], default="step")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=["step", "ep3d", "ep2d"],
        default=["step", "ep3d", "ep2d"],
        help="methods of the 'presets' section",
    )
    parser.add_argument(
        "--paper-cache",
        default=None,
        help="folder keeping the 'presets' section's 2000-iteration paper runs between runs",
    )
    parser.add_argument("--clips", type=int, default=8, help="SyntheticMotion clips in 'quality'")
    parser.add_argument("--data-seed", type=int, default=11)
    parser.add_argument("--area", type=float, default=0.1)
    parser.add_argument("--paper-iterations", type=int, default=PAPER_ITERATIONS)
    parser.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    parser.add_argument("--plot", default=None, help="PNG of the quality curves")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=None,
        help="configurations of the 'quality' and 'presets' sections, by label (default: all)",
    )
    parser.add_argument(
        "--add-to",
        default=None,
        help="JSON of an earlier 'quality' run of the same clips whose curves the plot keeps",
    )
    parser.add_argument(
        "--reference",
        default=None,
        help="stored paper run of the same clips (e.g. tests/data/paper_step_synthetic.pt with "
        "--clips 4 --data-seed 2024) instead of computing it",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a few minutes on 2 cores"
    )
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time every overhead row in a fresh process (default)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the setup and speedup sections run (e.g. cuda); the others run on the CPU",
    )
    parser.add_argument(
        "--speedup-clips",
        type=int,
        default=None,
        help="clips per call in the speedup section (default: 1 for r2plus1d_18, else 4)",
    )
    parser.add_argument("--row-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", nargs=3, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--pool-chunk-mb",
        type=float,
        default=None,
        help="working-set size of the fused pooling's frame chunks (default: the library's)",
    )
    args = parser.parse_args()
    if args.batches is None:
        args.batches = [1, 4] if args.quick else [1, 4, 8]
    if args.quick:
        args.max_r2plus1d_batch = 1
        args.clips, args.paper_iterations, args.budgets = 2, 200, [25, 50]
        args.rounds = min(args.rounds, 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.pool_chunk_mb is not None:
        from videoattr.methods.extremal import masks

        masks.POOL_CHUNK_BYTES = int(args.pool_chunk_mb * 2**20)
    if args.memory_probe:
        kind, name, batch = args.memory_probe
        print(peak_growth_mb(kind, name, int(batch), args.quick, max(args.iters, 2)))
        return
    global DEVICE
    DEVICE = torch.device(args.device)
    if not args.row_only:
        where = torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else "cpu"
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {where}")
    if "overhead" in args.sections:
        section_overhead(args)
    if "phases" in args.sections:
        section_phases(args)
    if "memory" in args.sections:
        section_memory(args)
    if "setup" in args.sections:
        section_setup(args)
    if "speedup" in args.sections:
        section_speedup(args)
    if "quality" in args.sections:
        section_quality(args)
    if "presets" in args.sections:
        section_presets(args)


if __name__ == "__main__":
    main()
