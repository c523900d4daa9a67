"""Train a demo model on synthetic motion clips and save its weights.

``--model cnn`` (default) trains the demo 3-D CNN (videoattr.demo_model.DemoNet), ``--model
transformer`` the demo video transformer (videoattr.demo_transformer.DemoTransformer); each has its own
defaults (steps, learning rate, weight decay, threads, output file). Every training batch is a fresh draw
of SyntheticMotion (seed 1, never repeated), so the model cannot memorise clips; accuracy is measured on a held-out draw (seed 2) with evidence in all frames and with
evidence in only some frames. Deterministic on the CPU: the same command writes the same weights.

    python examples/train_demo_model.py                  # a few CPU minutes, writes the shipped checkpoint
    python examples/train_demo_model.py --model transformer   # 8-30 CPU minutes, the shipped transformer
    python examples/train_demo_model.py --steps 50 --out /tmp/demo.pt   # a quick smoke run
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from videoattr import demo_model, demo_transformer
from videoattr.datasets import SyntheticMotion
from videoattr.demo_model import DATASET_KWARGS, DemoNet
from videoattr.demo_transformer import DemoTransformer

ASSETS = Path(__file__).resolve().parents[1] / "src" / "videoattr" / "assets"


@dataclass(frozen=True)
class Recipe:
    """How one demo model is built and trained by default."""

    build: type[nn.Module]
    steps: int
    lr: float
    weight_decay: float
    threads: int
    out: Path


RECIPES = {
    "cnn": Recipe(
        DemoNet,
        steps=100,
        lr=3e-3,
        weight_decay=1e-4,
        threads=2,
        out=ASSETS / demo_model.CHECKPOINT,
    ),
    "transformer": Recipe(
        DemoTransformer,
        steps=500,
        lr=2e-3,
        weight_decay=0.05,
        threads=1,  # faster than 2 on a busy machine; the shipped weights were made with 1
        out=ASSETS / demo_transformer.CHECKPOINT,
    ),
}


def accuracy(model: nn.Module, data: SyntheticMotion, n: int, batch_size: int = 64) -> float:
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
    parser.add_argument(
        "--model", choices=sorted(RECIPES), default="cnn", help="which demo model (default cnn)"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimiser steps (default: cnn 100, transformer 500)",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="clips per step (default 16)")
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak AdamW learning rate (default: cnn 3e-3, transformer 2e-3)",
    )
    parser.add_argument(
        "--eval-clips", type=int, default=256, help="held-out clips per layout (default 256)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default: cnn 2, transformer 1; the weights can differ in the last bits)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"checkpoint path (default: the shipped one in {ASSETS})",
    )
    args = parser.parse_args()
    recipe = RECIPES[args.model]
    args.steps = recipe.steps if args.steps is None else args.steps
    args.lr = recipe.lr if args.lr is None else args.lr
    args.out = recipe.out if args.out is None else args.out
    args.threads = recipe.threads if args.threads is None else args.threads

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    train = SyntheticMotion(
        seed=1, evidence="mixed", length=args.steps * args.batch_size, **DATASET_KWARGS
    )
    model = recipe.build()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=recipe.weight_decay)
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
