"""``videoattr demo``: explain a generated clip with a shipped demo model (no download).

``--model demo`` (default) is the demo 3-D CNN, ``--model demo-transformer`` the demo video
transformer; both classify the same generated clips.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from videoattr.cli.methods import flag_options
from videoattr.cli.options import (
    add_device_arguments,
    area,
    device_of,
    output_folder,
    positive_int,
)
from videoattr.methods.extremal.settings import FAST_ITERATIONS, PAPER_ITERATIONS
from videoattr.methods.registry import build_attributor, method_names

#: The models ``demo`` runs: the zoo entries whose weights ship with videoattr.
DEMO_MODELS = ("demo", "demo-transformer")
#: Methods run on the transformer besides Grad-CAM and STEP, when registered (they read attention).
ATTENTION_METHODS = ("attention_rollout", "attention_relevance")


def add_parser(sub: Any) -> None:
    """Register ``demo``."""
    d = sub.add_parser(
        "demo", help="explain a generated clip with a shipped demo model (no download)"
    )
    d.add_argument(
        "--model",
        choices=DEMO_MODELS,
        default="demo",
        help="the demo 3-D CNN (demo, default) or the demo video transformer (demo-transformer)",
    )
    d.add_argument(
        "--out", default="videoattr_demo", help="output folder (default: videoattr_demo)"
    )
    d.add_argument(
        "--area", type=area, nargs="+", default=[0.1], help="STEP area(s) (default: 0.1)"
    )
    d.add_argument(
        "--preset",
        choices=("fast", "paper"),
        default="fast",
        help=f"STEP preset: fast (Adam, {FAST_ITERATIONS} iterations; default) or paper (SGD, "
        f"{PAPER_ITERATIONS} iterations)",
    )
    d.add_argument(
        "--iterations",
        type=positive_int,
        default=None,
        help="STEP iterations (default: the preset's)",
    )
    d.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default=None,
        help="STEP optimiser (default: the preset's)",
    )
    d.add_argument("--seed", type=int, default=7, help="seed of the generated clip (default: 7)")
    add_device_arguments(d)
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")
    d.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Explain a generated clip with Grad-CAM and STEP (and, on the transformer, the registered
    attention methods); files under ``--out``."""
    from videoattr import demo_model, zoo
    from videoattr.datasets import SyntheticMotion
    from videoattr.pipeline import as_method, explain_clip, model_options, write_outputs

    out = output_folder(args.out)
    device = device_of(args)
    adapter = zoo.load(args.model).to(device).eval()
    data = SyntheticMotion(seed=args.seed, **demo_model.DATASET_KWARGS)
    batch = data.sample(1)
    clip = batch.clips.to(device)
    label = int(batch.labels[0])
    names = list(demo_model.CLASS_NAMES)
    print(
        f"demo: a generated clip whose red square moves {names[label]}; model "
        f"{args.model} on {device}"
    )
    start = time.perf_counter()
    step_options = {
        "preset": args.preset,
        "progress": not args.no_progress,
        **{option: value for _flag, option, value in flag_options(args)},
    }
    runs: list[tuple[str, dict[str, Any], tuple[float, ...] | None]] = [("grad_cam", {}, None)]
    if args.model != "demo":
        registered = set(method_names())
        runs += [(name, {}, None) for name in ATTENTION_METHODS if name in registered]
    runs.append(("step", step_options, tuple(args.area)))
    for name, options, areas in runs:
        attributor = build_attributor(name, adapter, **{**model_options(name, adapter), **options})
        method = as_method(attributor, adapter, areas=areas)
        result = explain_clip(adapter, method, clip, label)
        paths = write_outputs(
            out / name,
            f"demo-{names[label]}",
            clip,
            result,
            mean=adapter.mean,
            std=adapter.std,
            class_names=names,
            method=method.name,
            areas=method.areas,
            settings={
                "model": args.model,
                "weights": "bundled",
                "settings": method.config,
            },
            root=out,
        )
        extra = (
            f"; preserved clip keeps p = {', '.join(f'{p:.3f}' for p in result.preserved_prob)}"
            if result.preserved_prob
            else ""
        )
        print(
            f"{name}: predicted {names[result.prediction]} (p = {result.prediction_prob:.3f})"
            f"{extra} [{result.seconds:.1f}s]"
        )
        for kind, p in paths.items():
            print(f"  {kind}: {p}")
    print(
        f"done in {time.perf_counter() - start:.1f}s; open the .gif or .png files above to see "
        "the explanations"
    )
    return 0
