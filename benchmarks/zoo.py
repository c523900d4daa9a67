"""Forward and forward+backward time of every zoo model at its native clip size (random weights).

What one attribution costs follows from the forward+backward time ``fb``: Saliency and Grad-CAM take
one ``fb``, Integrated Gradients ``steps`` of them (25 by default), extremal perturbation one per
iteration (2000 in the paper's setting). Weights are random (the cost does not depend on them) and
nothing is downloaded.

Usage::

    python benchmarks/zoo.py                       # every installed model, 1 thread, CPU
    python benchmarks/zoo.py --models r2plus1d_18 tsm --threads 2 --repeats 3
    python benchmarks/zoo.py --device cuda
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from videoattr import zoo
from videoattr.core.hooks import capture_layer

SKIP = {"demo"}  # has its own bundled weights; not a zoo architecture to time


def _build(name: str) -> zoo.VideoAdapter:
    options: dict[str, Any] = {}
    if name == "tsm":
        options["segments"] = 8
    return zoo.load(name, **options)


def time_model(
    name: str, device: torch.device, repeats: int
) -> tuple[tuple[int, ...], tuple[int, ...], float, float]:
    """Time ``name`` on a native-size clip: (clip shape, Grad-CAM volume shape, forward s, fwd+bwd s).

    The default Grad-CAM layer is captured during the warm-up run and turned into its
    ``(B, D, T', H', W')`` volume, which checks the layer and reshape at the native size.
    """
    adapter = _build(name).to(device).eval()
    for p in adapter.parameters():
        p.requires_grad_(False)
    shape = (1, 3, adapter.clip_len, *adapter.size)
    x = torch.randn(*shape, device=device)
    with torch.no_grad(), capture_layer(adapter, adapter.layer or "") as cap:
        adapter(x)  # warm-up, not timed
    volume = adapter.reshape(cap.output) if adapter.reshape is not None else cap.output
    if volume.dim() != 5:
        raise ValueError(
            f"layer {adapter.layer} gives {tuple(volume.shape)}, not (B, D, T', H', W')"
        )
    fwd, fb = [], []
    for _ in range(repeats):
        xi = x.clone().requires_grad_(True)
        _sync(device)
        t0 = time.perf_counter()
        logits = adapter(xi)
        _sync(device)
        t1 = time.perf_counter()
        logits[:, 0].sum().backward()
        _sync(device)
        t2 = time.perf_counter()
        fwd.append(t1 - t0)
        fb.append(t2 - t0)
    return shape, tuple(volume.shape[1:]), min(fwd), min(fb)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="*", help="zoo names (default: every installed model)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="timed runs after a warm-up; min is kept"
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = args.models or [e.name for e in zoo.available() if e.installed() and e.name not in SKIP]
    print(f"device={device}, threads={torch.get_num_threads()}, torch {torch.__version__}")
    print(
        "| model | clip (B, C, T, H, W) | Grad-CAM (D, T', H', W') | forward s | forward+backward s "
        "| IG-25 s | EP-2000 min |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        try:
            shape, volume, fwd, fb = time_model(name, device, args.repeats)
        except Exception as err:  # report and go on with the other models
            print(f"| {name} | failed: {type(err).__name__}: {err} | | | | | |", flush=True)
            continue
        print(
            f"| {name} | {shape} | {volume} | {fwd:.3f} | {fb:.3f} | {25 * fb:.1f} "
            f"| {2000 * fb / 60:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
