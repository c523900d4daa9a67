"""Wall time and peak memory of the gradient methods against Captum and a bare forward+backward.

Each measurement runs in a fresh subprocess so that peak memory is not polluted by earlier runs: on
CUDA it is ``torch.cuda.max_memory_allocated``; on CPU the growth of the process's peak resident set
size (``ru_maxrss``) over its size once the model and input exist.

Usage::

    python benchmarks/gradient_methods.py                      # r2plus1d_18, 16x112x112, B = 1 and 4
    python benchmarks/gradient_methods.py --steps 8 --batches 1 --size 112 --frames 16
    python benchmarks/gradient_methods.py --device cuda

Goals (issue 2): IntegratedGradients and Saliency no slower than Captum and no more memory at an equal
batch bound (``max_batch_size`` vs Captum's ``internal_batch_size``); GradCAM3D within 1.1x of one
forward+backward.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

PAIRS = {
    "videoattr Saliency": "captum Saliency",
    "videoattr IntegratedGradients": "captum IntegratedGradients",
    "videoattr SmoothGrad": "captum NoiseTunnel(Saliency)",
    "videoattr GradCAM3D": "captum LayerGradCam+interpolate",
}
CASES = ["forward+backward"] + [name for pair in PAIRS.items() for name in pair]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(case: str, args: argparse.Namespace, batch: int) -> dict[str, float]:
    from torchvision.models.video import r2plus1d_18

    import videoattr as va

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = r2plus1d_18(num_classes=400).eval().to(device)
    x = torch.randn(batch, 3, args.frames, args.size, args.size, device=device)
    target = [int(i) for i in torch.arange(batch) % 400]
    mbs = args.max_batch_size
    from captum import attr as ca

    def run() -> None:
        if case == "forward+backward":
            xg = x.clone().requires_grad_(True)
            out = model(xg)
            out[torch.arange(batch), target].sum().backward()
        elif case == "videoattr Saliency":
            va.Saliency(model).attribute(x, target)
        elif case == "captum Saliency":
            ca.Saliency(model).attribute(x, target=target, abs=False)
        elif case == "videoattr IntegratedGradients":
            va.IntegratedGradients(model, steps=args.steps, max_batch_size=mbs).attribute(x, target)
        elif case == "captum IntegratedGradients":
            ca.IntegratedGradients(model).attribute(
                x, target=target, n_steps=args.steps, method="riemann_left", internal_batch_size=mbs
            )
        elif case == "videoattr SmoothGrad":
            va.SmoothGrad(va.Saliency(model), n=args.noise, max_batch_size=mbs).attribute(x, target)
        elif case == "captum NoiseTunnel(Saliency)":
            ca.NoiseTunnel(ca.Saliency(model)).attribute(
                x,
                nt_samples=args.noise,
                nt_samples_batch_size=mbs,
                stdevs=0.15,
                target=target,
                abs=False,
            )
        elif case == "videoattr GradCAM3D":
            va.GradCAM3D(model, "layer4").attribute(x, target)
        elif case == "captum LayerGradCam+interpolate":
            cam = ca.LayerGradCam(model, model.layer4).attribute(
                x, target=target, relu_attributions=True
            )
            ca.LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="trilinear")
        else:
            raise ValueError(case)
        if device.type == "cuda":
            torch.cuda.synchronize()

    base_rss = _rss_mb()  # peak RSS so far: the model and the input exist, nothing has run
    run()  # warm-up (allocator, kernels); its peak counts for the CPU memory figure
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = _rss_mb() - base_rss
    return {"time": min(times), "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--steps", type=int, default=25, help="IG steps (seed: 25)")
    parser.add_argument("--noise", type=int, default=8, help="SmoothGrad noisy copies")
    parser.add_argument(
        "--max-batch-size", type=int, default=8, help="max_batch_size / internal_batch_size"
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args, args.batch)))
        return
    print(
        f"r2plus1d_18 (random weights), {args.frames}x{args.size}x{args.size}, device={args.device}, "
        f"IG steps={args.steps}, SmoothGrad n={args.noise}, max_batch_size={args.max_batch_size}, "
        f"torch {torch.__version__}, threads={torch.get_num_threads()}"
    )
    header = f"| {'B':>2} | {'method':<34} | {'time (s)':>9} | {'x fwd+bwd':>9} | {'peak MB':>8} | {'vs captum (time, mem)':>22} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    passthrough = [
        "--device",
        args.device,
        "--frames",
        str(args.frames),
        "--size",
        str(args.size),
        "--steps",
        str(args.steps),
        "--noise",
        str(args.noise),
        "--max-batch-size",
        str(args.max_batch_size),
        "--repeats",
        str(args.repeats),
    ]
    for batch in args.batches:
        results: dict[str, dict[str, float]] = {}
        for case in CASES:
            out = subprocess.run(
                [sys.executable, __file__, "--one", case, "--batch", str(batch), *passthrough],
                capture_output=True,
                text=True,
                check=True,
            )
            results[case] = json.loads(out.stdout.strip().splitlines()[-1])
        floor = results["forward+backward"]["time"]
        for case in CASES:
            r = results[case]
            ratio = ""
            if case.startswith("videoattr"):
                ref_name = PAIRS[case]
                ref = results[ref_name]
                mem_ratio = r["peak_mb"] / ref["peak_mb"] if ref["peak_mb"] > 0 else float("nan")
                ratio = f"{r['time'] / ref['time']:.2f}x, {mem_ratio:.2f}x"
            print(
                f"| {batch:>2} | {case:<34} | {r['time']:>9.3f} | {r['time'] / floor:>9.2f} | "
                f"{r['peak_mb']:>8.0f} | {ratio:>22} |"
            )


if __name__ == "__main__":
    main()
