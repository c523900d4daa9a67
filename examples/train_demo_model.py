"""Train the demo model (videoattr.demo_model.DemoNet) on synthetic motion clips and save its weights.

Every training batch is a fresh draw of SyntheticMotion (seed 1, never repeated), so the model cannot
memorise clips; accuracy is measured on a held-out draw (seed 2) with evidence in all frames and with
evidence in only some frames. Deterministic on the CPU: the same command writes the same weights.

    python examples/train_demo_model.py                  # a few CPU minutes, writes the shipped checkpoint
    python examples/train_demo_model.py --steps 50 --out /tmp/demo.pt   # a quick smoke run
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from videoattr.datasets import SyntheticMotion
from videoattr.demo_model import DATASET_KWARGS, DemoNet

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "videoattr" / "assets" / "demo_model.pt"


def accuracy(model: DemoNet, data: SyntheticMotion, n: int, batch_size: int = 64) -> float:
    """Top-1 accuracy of ``model`` on clips ``0..n-1`` of ``data``."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, n, batch_size):
            batch = data.sample(min(batch_size, n - start), start=start)
            correct += int((model(batch.clips).argmax(1) == batch.labels).sum())
    return correct / n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps (default 100)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per step (default 16)")
    parser.add_argument(
        "--lr", type=float, default=3e-3, help="peak AdamW learning rate (default 3e-3)"
    )
    parser.add_argument(
        "--eval-clips", type=int, default=256, help="held-out clips per layout (default 256)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"checkpoint path (default {DEFAULT_OUT})"
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    train = SyntheticMotion(
        seed=1, evidence="mixed", length=args.steps * args.batch_size, **DATASET_KWARGS
    )
    model = DemoNet()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.15
    )

    start_time = time.perf_counter()
    model.train()
    for step in range(args.steps):
        batch = train.sample(args.batch_size, start=step * args.batch_size)
        loss = F.cross_entropy(model(batch.clips), batch.labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
        if step % 10 == 0 or step == args.steps - 1:
            elapsed = time.perf_counter() - start_time
            print(f"step {step:4d}  loss {loss.item():.4f}  {elapsed:6.1f} s", flush=True)

    for layout in ("full", "partial"):
        held_out = SyntheticMotion(seed=2, evidence=layout, **DATASET_KWARGS)
        print(
            f"held-out accuracy ({layout} evidence): {accuracy(model, held_out, args.eval_clips):.3f}"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(state, args.out)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - start_time:.0f} s"
    )


if __name__ == "__main__":
    main()
