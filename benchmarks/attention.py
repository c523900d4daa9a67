"""Time and peak memory of attention relevance and rollout against one forward+backward.

The model is a base-size Hugging Face VideoMAE (12 blocks, 12 heads, width 768, tubelets of 2 x 16 x
16) with random weights, at a clip size the CPU allows (default 8 x 160 x 160: 4 x 10 x 10 = 400
tokens). Each case runs in a fresh subprocess: a first call on the same clip warms it up, then the
growth of the peak resident size (Linux ``clear_refs`` / ``VmHWM``; ``max_memory_allocated`` on CUDA)
and the median wall time of ``--repeats`` calls are measured. The baseline is one forward with eager
attention (what the methods run) and one backward of the target score to the clip, parameters frozen.

Usage::

    python benchmarks/attention.py                          # 8 x 160 x 160, batch 1
    python benchmarks/attention.py --frames 16 --size 224   # 1,568 tokens (needs several GB)

Targets (issue 20): relevance within 1.3x the memory and 1.5x the time of one forward+backward.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

CASES = ("forward+backward", "attention_relevance", "attention_rollout")


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak(device: torch.device) -> float:
    """Reset the peak and return the current size (MB)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    with contextlib.suppress(OSError, AttributeError):  # give freed memory back first
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def probe(case: str, args: argparse.Namespace) -> dict[str, float]:
    """In this process: peak growth (MB) and median time (s) of ``case``."""
    import videoattr as va
    from videoattr.zoo import load

    torch.manual_seed(0)
    device = torch.device(args.device)
    config = {"image_size": args.size, "num_frames": args.frames}  # base size otherwise
    model = load("videomae", num_classes=400, config=config).eval().to(device)
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
    target = list(range(args.batch))

    def run() -> None:
        if case == "forward+backward":
            for p in model.parameters():
                p.requires_grad_(False)
            net = model.model
            net.set_attn_implementation("eager")
            xg = x.clone().requires_grad_(True)
            logits = model(xg)
            logits[torch.arange(args.batch), target].sum().backward()
            net.set_attn_implementation("sdpa")
        elif case == "attention_relevance":
            va.AttentionRelevance(model).attribute(x, target)
        else:
            va.AttentionRollout(model).attribute(x, target)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run()  # warm-up: what a process loads once
    base = _reset_peak(device)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {"peak_mb": _peak_mb(device) - base, "seconds": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--probe", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args)))
        return
    tokens = (args.frames // 2) * (args.size // 16) ** 2
    print(
        f"VideoMAE-B (random weights), clips {args.batch} x 3 x {args.frames} x {args.size} x "
        f"{args.size}: {tokens} tokens, 12 blocks, on {args.device}; median of {args.repeats} calls\n"
    )
    print("| case | time (s) | time / fwd+bwd | peak growth (MB) | memory / fwd+bwd |")
    print("|---|---|---|---|---|")
    results = {}
    for case in CASES:
        command = [sys.executable, str(Path(__file__).resolve()), "--probe", case]
        command += [
            "--frames",
            str(args.frames),
            "--size",
            str(args.size),
            "--batch",
            str(args.batch),
        ]
        command += ["--repeats", str(args.repeats), "--device", args.device]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results[case] = json.loads(out.strip().splitlines()[-1])
        base = results["forward+backward"]
        r = results[case]
        print(
            f"| {case} | {r['seconds']:.2f} | {r['seconds'] / base['seconds']:.2f}x | "
            f"{r['peak_mb']:.0f} | {r['peak_mb'] / base['peak_mb']:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
