"""Throughput of ``videoattr run`` over a folder of clips: 1 process against ``torchrun`` with 2.

Generates ``--clips`` synthetic clips (16 x 56 x 56 GIFs, the demo model's input) in a temporary
folder, then runs the command line on them with the shipped demo model, once with a gradient method
and once with a perturbation method, as ``python -m videoattr run`` (one process, with the default
threads and with one thread) and as ``torchrun --nproc_per_node=2 -m videoattr run`` (two processes, one thread
each, as torchrun sets it). Each configuration runs in a fresh output folder.

Reported per row: clips per second as the run measures it (clips attributed by all ranks over the
wall time of the slowest rank, DataLoader start included, interpreter start excluded; read from
``manifest.json``), and the end-to-end wall time of the command (interpreter and model start
included).

Usage::

    python benchmarks/dataset_run.py                       # 16 clips grad_cam, 8 clips step (50 its)
    python benchmarks/dataset_run.py --clips 32 --perturbation-clips 8 --iterations 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_clips(folder: Path, n: int) -> None:
    from videoattr import demo_model, io
    from videoattr.datasets import SyntheticMotion

    data = SyntheticMotion(seed=11, **demo_model.DATASET_KWARGS)
    for i in range(n):
        sample = data.render(i)
        name = demo_model.CLASS_NAMES[sample.label]
        io.write_video(folder / f"{name}-{i:04d}.gif", sample.frames)


def run_once(
    procs: int,
    threads: int | None,
    videos: Path,
    out: Path,
    method_args: list[str],
    batch_size: int,
    workers: int,
) -> dict[str, float]:
    args = ["run", "--videos-dir", str(videos), "--out", str(out), "--model", "demo"]
    args += [*method_args, "--batch-size", str(batch_size), "--num-workers", str(workers)]
    args += ["--no-progress", "--log-every", "1e9"]
    if procs == 1:
        cmd = [sys.executable, "-m", "videoattr", *args]
    else:
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        cmd = [torchrun, "--standalone", f"--nproc_per_node={procs}", "-m", "videoattr", *args]
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    last = json.loads((out / "manifest.json").read_text())["last_run"]
    return {
        "clips": float(last["done"]),
        "clips_per_second": float(last["clips_per_second"]),
        "run_seconds": float(last["seconds"]),
        "wall_seconds": wall,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clips", type=int, default=16, help="clips for the gradient method")
    p.add_argument(
        "--perturbation-clips", type=int, default=8, help="clips for the perturbation method"
    )
    p.add_argument("--gradient-method", default="grad_cam")
    p.add_argument("--perturbation-method", default="step")
    p.add_argument("--iterations", type=int, default=50, help="perturbation iterations")
    p.add_argument(
        "--batch-size",
        type=int,
        default=2,
        help="clips per call; ranks share batches, so keep clips / batch size >= 2 x ranks",
    )
    p.add_argument("--num-workers", type=int, default=1, help="DataLoader workers per rank")
    args = p.parse_args()
    # (processes, threads per process): torchrun gives each of its processes one thread.
    setups = [(1, None), (1, 1), (2, 1)]

    cases = [
        (args.gradient_method, ["--method", args.gradient_method], args.clips),
        (
            f"{args.perturbation_method} ({args.iterations} its, adam)",
            [
                "--method",
                args.perturbation_method,
                "--iterations",
                str(args.iterations),
                "--optimizer",
                "adam",
            ],
            args.perturbation_clips,
        ),
    ]
    print(
        f"# videoattr run on {os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}), "
        f"demo model (16x56x56), batch size {args.batch_size}, {args.num_workers} DataLoader "
        "worker(s) per rank\n"
    )
    print(
        "| method | clips | processes x threads | clips/s (run) | run s | wall s (with start-up) |"
    )
    print("|---|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, method_args, n in cases:
            videos = root / f"videos-{n}"
            if not videos.exists():
                videos.mkdir()
                make_clips(videos, n)
            for procs, threads in setups:
                out = root / f"out-{name.split()[0]}-{procs}-{threads}"
                r = run_once(
                    procs, threads, videos, out, method_args, args.batch_size, args.num_workers
                )
                shown = f"{procs} x {threads or 'default'}"
                print(
                    f"| {name} | {int(r['clips'])} | {shown} | {r['clips_per_second']:.2f} | "
                    f"{r['run_seconds']:.1f} | {r['wall_seconds']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
