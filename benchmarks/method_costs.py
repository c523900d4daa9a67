"""Every method's default cost on one clip: forwards, time, peak memory, and the estimate said before.

Each method runs with its registered defaults (the command line's: the adapter's Grad-CAM layer,
Integrated Gradients from the black clip, STEP's ``fast`` preset) on one clip of torchvision's
``r2plus1d_18`` with random weights, in a fresh subprocess so that its peak memory is its own: on
CUDA ``torch.cuda.max_memory_allocated``, on the CPU the growth of the peak resident set size over
the process's size once the model and clip exist. Before the method runs, the estimate the command
line prints is computed the same way (the counted forwards times one measured forward, a forward
with a backward pass counting three); the table says whether the time measured is within 30 % of it.
The same comparison in CPU seconds of the process (``cpu`` columns) holds on a machine shared with
other work, where the wall-clock time of one forward drifts from minute to minute.

Usage::

    python benchmarks/method_costs.py                    # every method, 16 x 112 x 112 (hours on a CPU)
    python benchmarks/method_costs.py --quick            # the cheap methods only (a few minutes)
    python benchmarks/method_costs.py --methods grad_cam,saliency --device cuda
    python benchmarks/method_costs.py --memory           # memory per clip of one forward, +/- backward
    python benchmarks/method_costs.py --methods rise --options '{"n": 64}'   # a reduced setting
    python benchmarks/method_costs.py --methods occlusion --estimate-only     # the estimate, no run
    python benchmarks/method_costs.py --methods attention_rollout --model mvit_v2_s --size 224

``--options`` (a JSON object) overrides the listed methods' defaults: for a method whose default
takes hours on a CPU, run it reduced and print its default's forwards and estimate with
``--estimate-only``. The attention methods need a transformer (``--model mvit_v2_s --size 224``).

``--memory`` measures what ``videoattr.methods._memory`` and the docs' memory table are based on: the
peak memory of one forward of 1 and 2 clips without a gradient and of 1 clip with a backward pass.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import torch

#: Methods whose default cost is a few forwards (what ``--quick`` runs).
CHEAP = ("saliency", "input_x_gradient", "grad_cam", "grad_cam_pp", "xgrad_cam", "layer_cam")


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _model(args: argparse.Namespace) -> Any:
    from videoattr import zoo

    torch.manual_seed(0)
    return zoo.load(args.model).to(args.device).eval()


def measure_method(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one method on one clip (in this process) and return its numbers."""
    from videoattr.pipeline import as_method, explain_clip
    from videoattr.pipeline.cost import layer_channels, method_cost, time_forward

    device = torch.device(args.device)
    adapter = _model(args)
    x = torch.randn(1, 3, args.frames, args.size, args.size, device=device)
    options: dict[str, Any] = {"progress": False}
    from videoattr.methods import method_info

    if "progress" not in (method_info(name).option_names() or ()):
        options = {}
    if method_info(name).kind == "perturbation":
        options["preset"] = "fast"
    options.update(json.loads(args.options or "{}"))
    method = as_method(name, adapter, options)
    base = _rss_gb()  # before the probe: its forward is part of what the command line costs
    # the estimate, as the command line computes it
    probe = torch.zeros_like(x)
    channels = layer_channels(adapter, method, probe) if name == "score_cam" else None
    forward_s = time_forward(adapter, probe)
    cost = method_cost(method, x.shape[1:], channels=channels)
    estimate = cost.seconds(forward_s)
    # the same estimate in CPU seconds of this process: on a machine shared with other work the
    # wall-clock time of one forward drifts from minute to minute, its CPU time much less
    cpu_start = time.process_time()
    with torch.no_grad():
        adapter(probe)
    cpu_estimate = cost.seconds(time.process_time() - cpu_start)
    if args.estimate_only:
        return {
            "method": name,
            "counted": cost.total,
            "estimate_s": estimate,
            "max_batch_size": cost.max_batch_size,
        }
    rows: list[int] = []
    handle = adapter.register_forward_pre_hook(lambda _m, i: rows.append(int(i[0].shape[0])))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        explain_clip(adapter, method, x, 0)
    finally:
        handle.remove()
    cpu_seconds = time.process_time() - cpu_start
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30
    else:
        peak = _rss_gb() - base
    seconds = time.perf_counter() - start
    return {
        "method": name,
        "forwards": sum(rows),
        "counted": cost.total,
        "estimate_s": estimate,
        "seconds": seconds,
        "cpu_estimate_s": cpu_estimate,
        "cpu_s": cpu_seconds,
        "peak_gb": peak,
        "max_batch_size": cost.max_batch_size,
    }


def measure_memory(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """Peak memory of one forward of ``case`` = ``"no_grad:B"`` or ``"backward:B"`` clips."""
    kind, batch = case.split(":")
    device = torch.device(args.device)
    adapter = _model(args)
    x = torch.randn(int(batch), 3, args.frames, args.size, args.size, device=device)
    base = _rss_gb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device) / 2**30
    if kind == "no_grad":
        with torch.no_grad():
            adapter(x)
    else:
        x.requires_grad_(True)
        adapter(x).sum().backward()
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30 - before
    else:
        peak = _rss_gb() - base
    return {"case": case, "peak_gb": peak}


def _child(kind: str, what: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", f"{kind}={what}", "--device", args.device]
    cmd += ["--frames", str(args.frames), "--size", str(args.size), "--model", args.model]
    if args.options:
        cmd += ["--options", args.options]
    if args.estimate_only:
        cmd += ["--estimate-only"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--methods", help="comma-separated method names (default: all, or --quick's)"
    )
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(CHEAP)}")
    parser.add_argument("--memory", action="store_true", help="memory per clip of one forward")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="r2plus1d_18", help="zoo model (random weights)")
    parser.add_argument("--options", help='JSON object of options for the methods, e.g. {"n": 64}')
    parser.add_argument(
        "--estimate-only", action="store_true", help="print the forwards and estimate, run nothing"
    )
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--timeout", type=float, default=36000.0, help="seconds per method")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, what = args.child.split("=", 1)
        result = measure_method(what, args) if kind == "method" else measure_memory(what, args)
        print(json.dumps(result))
        return
    where = f"{args.model} (random weights), 1 x 3 x {args.frames} x {args.size} x {args.size}, {args.device}"
    if args.memory:
        print(f"memory of one forward, {where}, beyond the model and clip")
        print(f"{'case':<14} {'peak GB':>8}")
        for case in ("no_grad:1", "no_grad:2", "backward:1"):
            r = _child("memory", case, args)
            print(f"{case:<14} {r.get('peak_gb', float('nan')):>8.2f} {r.get('error', '')}")
        return
    from videoattr.methods import method_names

    names = args.methods.split(",") if args.methods else (CHEAP if args.quick else method_names())
    setting = f", options {args.options}" if args.options else ""
    print(f"default cost of one clip, {where}{setting}")
    header = f"{'method':<22} {'forwards':>8} {'counted':>8} {'estimate s':>11} {'time s':>8} "
    print(
        header + f"{'ratio':>6} {'within 30%':>10} {'cpu est s':>9} {'cpu s':>7} {'cpu ratio':>9} "
        f"{'peak GB':>8} {'max_batch_size':>14}"
    )
    for name in names:
        r = _child("method", name, args)
        if "error" in r:
            print(f"{name:<22} failed: {r['error']}")
            continue
        if args.estimate_only:
            print(
                f"{name:<22} {'-':>8} {r['counted']:>8} {r['estimate_s']:>11.1f} {'-':>8} "
                f"{'-':>6} {'-':>10} {'-':>9} {'-':>7} {'-':>9} {'-':>8} "
                f"{r['max_batch_size']!s:>14}"
            )
            continue
        ratio = r["seconds"] / r["estimate_s"]
        print(
            f"{name:<22} {r['forwards']:>8} {r['counted']:>8} {r['estimate_s']:>11.1f} "
            f"{r['seconds']:>8.1f} {ratio:>6.2f} {'yes' if abs(ratio - 1) <= 0.3 else 'no':>10} "
            f"{r['cpu_estimate_s']:>9.1f} {r['cpu_s']:>7.1f} {r['cpu_s'] / r['cpu_estimate_s']:>9.2f} "
            f"{r['peak_gb']:>8.2f} {r['max_batch_size']!s:>14}"
        )


if __name__ == "__main__":
    main()
