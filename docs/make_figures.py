"""Make the pictures of the documentation and the executed example notebook.

Run from the repository root::

    python docs/make_figures.py [--out docs/img] [--iterations 20] [--notebook examples/notebook.ipynb]

It renders one generated clip of `SyntheticMotion` (a red
square moving among distractors; the class is its direction of motion), explains the demo model's
decision with every method, and writes one PNG sheet per method: a header naming the target and
its probability, the prediction, the method and its settings; the input frames, the map over them
and, for the perturbation methods, the preserved clip; a colour bar. It then writes the example
notebook from `NOTEBOOK_CELLS` and executes it, so the notebook is committed with its
outputs (``--no-notebook`` skips that; ``--notebook-only`` skips the figures). CPU, about a minute;
nothing is downloaded. The tests run the same notebook top to bottom.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from videoattr import demo_model, demo_transformer, zoo
from videoattr.datasets import SyntheticMotion
from videoattr.methods import (
    RISE,
    AttentionRelevance,
    GradCAM3D,
    GradCAMPlusPlus3D,
    IntegratedGradients,
    LayerCAM3D,
    Occlusion,
    Saliency,
    ScoreCAM3D,
    SmoothGrad,
    TemporalOcclusion,
    XGradCAM3D,
)
from videoattr.methods.extremal import (
    STEP,
    ExtremalPerturbation2D,
    ExtremalPerturbation3D,
    Perturbation,
)
from videoattr.methods.extremal.settings import FAST_ITERATIONS
from videoattr.metrics import mass_in_ground_truth
from videoattr.viz import OverlayStyle, Sheet, SheetCaption, render_sheet

ROOT = Path(__file__).resolve().parents[1]
#: Every other frame is shown, so a sheet is 8 frames wide.
FRAME_STRIDE = 2
PERTURBATION = ("ep2d", "ep3d", "step")
#: Masks of the RISE figure.
RISE_MASKS = 4000
#: The layer of the CAM variants' figures: one block before the last, where they differ (on the last
#: block, followed by global average pooling and a linear layer, XGrad-CAM equals Grad-CAM exactly).
CAM_LAYER = "features.block3"
#: The layers the fused LayerCAM figure combines (a finer and the last block).
FUSED_LAYERS = ["features.block2", "features.block4"]


def save_small(sheet: Sheet, path: Path) -> Path:
    """Save ``sheet`` as a 256-colour PNG (a third of the size of a true-colour one)."""
    image = Image.fromarray(sheet.image.numpy()).quantize(colors=256, dither=Image.Dither.NONE)
    image.save(path, optimize=True)
    return path


def _clip() -> tuple[Tensor, Tensor, int]:
    """One clip where the red square is visible in every frame: ``(1, 3, 16, 56, 56)``, mask, label."""
    data = SyntheticMotion(seed=3, evidence="full", **demo_model.DATASET_KWARGS)
    batch = data.sample(1, start=1)  # label 1 ("down")
    return batch.clips, batch.masks, int(batch.labels[0])


def make_figures(out: Path, iterations: int, only: set[str] | None = None) -> None:
    """Render one sheet per method (all, or those in ``only``) and the ground truth into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = demo_model.load_demo_model()
    clip, gt, label = _clip()
    names = demo_model.CLASS_NAMES
    with torch.no_grad():
        probs = torch.softmax(model(clip), dim=1)[0]
    top = int(probs.argmax())
    mean, std = demo_model.MEAN, demo_model.STD
    ep: dict[str, Any] = {"preset": "fast", "max_iter": iterations, "progress": False}

    methods: dict[str, tuple[Callable[[], Tensor], dict[str, object]]] = {
        "saliency": (
            lambda: Saliency(model, polarity="absolute").attribute(clip, label),
            {"polarity": "absolute"},
        ),
        "grad_x_input": (
            lambda: Saliency(model, multiply_by_inputs=True, polarity="positive").attribute(
                clip, label
            ),
            {"polarity": "positive"},
        ),
        "integrated_gradients": (
            lambda: IntegratedGradients(
                model, steps=25, baseline="black", mean=mean, std=std, polarity="positive"
            ).attribute(clip, label),
            {"steps": 25, "baseline": "black"},
        ),
        "smoothgrad": (
            lambda: SmoothGrad(
                Saliency(model, polarity="absolute"), n=25, variant="square"
            ).attribute(clip, label),
            {"n": 25, "variant": "square"},
        ),
        "grad_cam": (
            lambda: GradCAM3D(model, demo_model.GRADCAM_LAYER, normalize=True).attribute(
                clip, label
            ),
            {"layer": demo_model.GRADCAM_LAYER},
        ),
        "occlusion": (
            lambda: Occlusion(model, window=(4, 8, 8), progress=False).attribute(clip, label),
            {"window": (4, 8, 8), "strides": (2, 4, 4)},
        ),
        "temporal_occlusion": (
            lambda: TemporalOcclusion(model, progress=False).attribute(clip, label),
            {"span": 1, "stride": 1},
        ),
        "rise": (
            lambda: RISE(model, n=RISE_MASKS, seed=0, progress=False).attribute(clip, label),
            {"n": RISE_MASKS, "grid": (4, 7, 7), "p": 0.5},
        ),
        "grad_cam_block3": (
            lambda: GradCAM3D(model, CAM_LAYER, normalize=True).attribute(clip, label),
            {"layer": CAM_LAYER},
        ),
        "grad_cam_pp": (
            lambda: GradCAMPlusPlus3D(model, CAM_LAYER, normalize=True).attribute(clip, label),
            {"layer": CAM_LAYER},
        ),
        "xgrad_cam": (
            lambda: XGradCAM3D(model, CAM_LAYER, normalize=True).attribute(clip, label),
            {"layer": CAM_LAYER},
        ),
        "layer_cam": (
            lambda: LayerCAM3D(model, CAM_LAYER, normalize=True).attribute(clip, label),
            {"layer": CAM_LAYER},
        ),
        "layer_cam_fused": (
            lambda: LayerCAM3D(model, FUSED_LAYERS, normalize=True).attribute(clip, label),
            {"layer": "+".join(FUSED_LAYERS)},
        ),
        "score_cam": (
            lambda: ScoreCAM3D(model, CAM_LAYER, normalize=True).attribute(clip, label),
            {"layer": CAM_LAYER},
        ),
        "ep2d": (
            lambda: ExtremalPerturbation2D(model, **ep).attribute(clip, label, areas=0.1),
            {"area": 0.1, "preset": "fast", "iterations": iterations},
        ),
        "ep3d": (
            lambda: ExtremalPerturbation3D(model, **ep).attribute(clip, label, areas=0.1),
            {"area": 0.1, "preset": "fast", "iterations": iterations},
        ),
        "step": (
            lambda: STEP(model, **ep).attribute(clip, label, areas=0.1),
            {"area": 0.1, "preset": "fast", "iterations": iterations},
        ),
    }
    frames = clip[:, :, ::FRAME_STRIDE]
    shown = range(0, clip.shape[2], FRAME_STRIDE)
    style = OverlayStyle(mean=mean, std=std)
    masks_style = style.replace(value_range=(0.0, 1.0))
    base = SheetCaption(
        target=names[label],
        target_probability=float(probs[label]),
        prediction=names[top],
        prediction_probability=float(probs[top]),
    )
    ground_truth = render_sheet(
        frames,
        gt[:, :, ::FRAME_STRIDE].float(),
        caption=SheetCaption(target=names[label], note="ground truth: where the moving square is"),
        style=masks_style,
        map_names=["ground truth"],
        frame_indices=shown,
    )
    save_small(ground_truth, out / "ground_truth.png")
    save_small(random_weights_sheet(clip, label, shown), out / "random_weights.png")
    if only is None or "token_grid" in only:
        save_small(token_grid_sheet(clip, label, shown), out / "token_grid.png")
        print(f"token_grid -> {out / 'token_grid.png'}")
    print(f"clip: class {names[label]!r}, demo model's probability {float(probs[label]):.3f}")
    for name, (compute, settings) in methods.items():
        if only is not None and name not in only:
            continue
        start = time.perf_counter()
        maps = compute()
        seconds = time.perf_counter() - start
        preserved, kept = None, None
        if name in PERTURBATION:
            preserved = Perturbation(clip).apply(maps[:, 0])
            with torch.no_grad():
                kept = float(torch.softmax(model(preserved), dim=1)[0, label])
        mass = float(mass_in_ground_truth(maps, gt)[0])
        caption = replace(base, method=name, settings=settings, preserved_probability=kept)
        sheet = render_sheet(
            frames,
            maps[:, :, ::FRAME_STRIDE],
            None if preserved is None else preserved[:, :, ::FRAME_STRIDE],
            caption=caption,
            style=masks_style if name in PERTURBATION else style,
            map_names=["mask"] if name in PERTURBATION else None,
            frame_indices=shown,
        )
        path = save_small(sheet, out / f"{name}.png")
        extra = "" if kept is None else f", p(target | preserved) {kept:.3f}"
        print(f"{name:<21} {seconds:6.2f}s  mass on the object {mass:.2f}{extra}  -> {path}")


def token_grid_sheet(clip: Tensor, label: int, shown: range) -> Sheet:
    """How the demo transformer's tokens map to pixels, on its attention relevance.

    The frames carry the tubelet grid (8 x 8 pixels; a token spans 4 frames, so two shown columns).
    Row 1: the relevance of the ``4 x 7 x 7`` patch tokens (the class token's row, ``resize=False``),
    each token's value filling its tubelet; row 2: the same map resized to the clip by trilinear
    interpolation, as the method returns it.
    """
    adapter = zoo.load("demo-transformer")
    with torch.no_grad():
        probs = torch.softmax(adapter(clip), dim=1)[0]
    top, names = int(probs.argmax()), demo_transformer.CLASS_NAMES
    tokens = AttentionRelevance(adapter, resize=False).attribute(clip, label)  # (1, 1, 4, 7, 7)
    resized = AttentionRelevance(adapter).attribute(clip, label)  # (1, 1, 16, 56, 56)
    filled = F.interpolate(tokens, size=tuple(clip.shape[2:]), mode="nearest")
    maps = torch.cat([filled, resized], dim=1)
    maps = maps / maps.flatten(2).amax(2)[:, :, None, None, None].clamp_min(1e-12)
    gridded = clip.clone()
    t_step, h_step, w_step = demo_transformer.TUBELET
    gridded[:, :, :, ::h_step, :] = -1.2  # dark lines on the tubelet boundaries (normalised units)
    gridded[:, :, :, :, ::w_step] = -1.2
    caption = SheetCaption(
        target=names[label],
        target_probability=float(probs[label]),
        prediction=names[top],
        prediction_probability=float(probs[top]),
        method="attention_relevance",
        settings={"model": "demo-transformer", "tokens": "4 x 7 x 7 + class token"},
        note=f"a token is a tubelet of {t_step} frames x {h_step} x {w_step} px (lines: its borders)",
    )
    # viridis: its top (yellow) stays visible on the red square, where turbo's dark red would not
    style = OverlayStyle(
        mean=demo_transformer.MEAN,
        std=demo_transformer.STD,
        cmap="viridis",
        alpha=0.6,
        value_range=(0, 1),
    )
    return render_sheet(
        gridded[:, :, ::FRAME_STRIDE],
        maps[:, :, ::FRAME_STRIDE],
        caption=caption,
        style=style,
        map_names=["per token", "resized"],
        frame_indices=shown,
    )


def random_weights_sheet(clip: Tensor, label: int, shown: range) -> Sheet:
    """Grad-CAM of an untrained demo network: the header says the weights are random."""
    torch.manual_seed(0)
    untrained = demo_model.DemoNet().eval()
    with torch.no_grad():
        probs = torch.softmax(untrained(clip), dim=1)[0]
    top, names = int(probs.argmax()), demo_model.CLASS_NAMES
    cam = GradCAM3D(untrained, demo_model.GRADCAM_LAYER, normalize=True).attribute(clip, label)
    caption = SheetCaption(
        target=names[label],
        target_probability=float(probs[label]),
        prediction=names[top],
        prediction_probability=float(probs[top]),
        method="grad_cam",
        settings={"layer": demo_model.GRADCAM_LAYER},
        random_weights=True,
    )
    style = OverlayStyle(mean=demo_model.MEAN, std=demo_model.STD)
    return render_sheet(
        clip[:, :, ::FRAME_STRIDE],
        cam[:, :, ::FRAME_STRIDE],
        caption=caption,
        style=style,
        frame_indices=shown,
    )


#: The example notebook, cell by cell: ``("markdown" | "code", source)``.
NOTEBOOK_CELLS: list[tuple[str, str]] = [
    (
        "markdown",
        """# videoattr in a notebook

Explain the decision of the small 3-D CNN that ships with videoattr on generated clips, look at the
maps inline (sheets as pictures, clips as animations) and check them against the ground truth. Runs on
a CPU in seconds; nothing is downloaded. The clips show a red square moving among distractors; the
class is the direction of its motion (`right`, `down`, `left`, `up`).""",
    ),
    (
        "code",
        """from pathlib import Path

import torch

import videoattr as va
from videoattr import demo_model, metrics, viz
from videoattr.datasets import SyntheticMotion
from videoattr.methods.extremal import Perturbation

out = Path("notebook_out")
out.mkdir(exist_ok=True)

model = demo_model.load_demo_model()  # (B, 3, 16, 56, 56) -> (B, 4) logits
batch = SyntheticMotion(seed=2, evidence="full", **demo_model.DATASET_KWARGS).sample(2)
clips, labels = batch.clips, batch.labels  # (2, 3, 16, 56, 56), (2,)
names = demo_model.CLASS_NAMES
with torch.no_grad():
    probs = torch.softmax(model(clips), dim=1)  # (2, 4)
style = viz.OverlayStyle(mean=demo_model.MEAN, std=demo_model.STD)


def caption(i, **more):
    \"\"\"What the pictures of clip i show: target, prediction and their probabilities.\"\"\"
    target, top = int(labels[i]), int(probs[i].argmax())
    return viz.SheetCaption(
        target=names[target],
        target_probability=float(probs[i, target]),
        prediction=names[top],
        prediction_probability=float(probs[i, top]),
        **more,
    )


print(
    "true:",
    [names[int(i)] for i in labels],
    " predicted:",
    [names[int(i)] for i in probs.argmax(1)],
)""",
    ),
    (
        "markdown",
        """## Grad-CAM

One forward and a partial backward; the map is resized from the layer's `4 x 7 x 7` grid to the clip.
A `Sheet` shows itself as a picture: every other frame, a header saying what is explained, a colour bar.""",
    ),
    (
        "code",
        """cam = va.GradCAM3D(model, layer=demo_model.GRADCAM_LAYER, normalize=True).attribute(clips, labels)
settings = {"layer": demo_model.GRADCAM_LAYER}
sheet = viz.render_sheet(
    clips[:, :, ::2],
    cam[:, :, ::2],
    caption=[caption(i, method="grad_cam", settings=settings) for i in range(2)],
    style=style,
    frame_indices=range(0, 16, 2),
)
sheet.save(out / "grad_cam.png")
sheet""",
    ),
    (
        "markdown",
        "`viz.show` plays a clip with its map inline (an animated GIF embedded in the notebook):",
    ),
    ("code", """viz.show(clips, cam, style=style, caption=caption(0, method="grad_cam"))"""),
    (
        "markdown",
        """## STEP

A smooth mask that keeps 10 % of the clip and preserves the decision. The `fast` preset here (20 Adam
iterations from the clip's gradient map, a second or two on a CPU); `va.STEP(model)` alone uses the
paper's settings (SGD, 2000 iterations). The preserved clip is the
input blurred wherever the mask is 0; `p(target | preserved)` is the target's probability on it.
This animation is an HTML5 video (`format="mp4"`, much smaller than a GIF).""",
    ),
    (
        "code",
        """step = va.STEP(model, preset="fast", progress=False)
masks = step.attribute(clips, labels, areas=0.1)  # (2, 1, 16, 56, 56) in [0, 1]
preserved = Perturbation(clips).apply(masks[:, 0])  # (2, 3, 16, 56, 56)
with torch.no_grad():
    kept = torch.softmax(model(preserved), dim=1).gather(1, labels[:, None])[:, 0]
print("p(target | preserved):", [round(float(p), 3) for p in kept])
step_caption = caption(
    0, method="step", settings={"area": 0.1, "preset": "fast"}, preserved_probability=float(kept[0])
)
mask_style = style.replace(value_range=(0, 1))
viz.show(clips, masks, preserved, style=mask_style, caption=step_caption, format="mp4")""",
    ),
    (
        "markdown",
        """## How much of each map lies on the moving square?

The share of positive attribution inside the ground truth; a uniform map scores the square's share of
the clip.""",
    ),
    (
        "code",
        """saliency = va.Saliency(model, polarity="absolute").attribute(clips, labels)
chance = batch.masks.float().mean().item()
for name, maps in [("saliency", saliency), ("grad_cam", cam), ("step", masks)]:
    share = metrics.mass_in_ground_truth(maps, batch.masks).mean()
    print(f"{name:9} {share:.2f}  (chance {chance:.2f})")""",
    ),
]


def build_notebook() -> object:
    """The example notebook (an ``nbformat`` node) from `NOTEBOOK_CELLS`, not executed."""
    import nbformat

    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell(src) if kind == "markdown" else v4.new_code_cell(src)
        for kind, src in NOTEBOOK_CELLS
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute_notebook(nb: object, workdir: Path, timeout: int = 600) -> object:
    """Run every cell of ``nb`` in a fresh kernel with ``workdir`` as its working directory."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    return nb


def _machine_specific(output: dict[str, object]) -> bool:
    """Whether a cell's output is about this machine, not the notebook: a warning on stderr (e.g.
    tqdm's about a missing ``ipywidgets``, which names a local path)."""
    text = str(output.get("text", ""))
    return output.get("name") == "stderr" and "Warning" in text


def make_notebook(path: Path) -> None:
    """Write the executed example notebook to ``path`` (its files go to a temporary folder)."""
    import tempfile

    import nbformat

    nb = build_notebook()
    with tempfile.TemporaryDirectory() as tmp:
        execute_notebook(nb, Path(tmp))
    for cell in nb.cells:  # type: ignore[attr-defined]
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _machine_specific(o)]
    nbformat.write(nb, path)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB, executed)")


def main() -> None:
    """Render the figures into ``--out`` and write the executed notebook."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/img", help="output folder (default: docs/img)")
    parser.add_argument(
        "--iterations",
        type=int,
        default=FAST_ITERATIONS,
        help=f"iterations of the perturbation methods' fast preset (default {FAST_ITERATIONS})",
    )
    parser.add_argument("--methods", help="comma-separated methods to draw (default: all)")
    parser.add_argument("--notebook", default=str(ROOT / "examples" / "notebook.ipynb"))
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-notebook", action="store_true", help="only the figures")
    group.add_argument("--notebook-only", action="store_true", help="only the notebook")
    args = parser.parse_args()
    if not args.notebook_only:
        only = set(args.methods.split(",")) if args.methods else None
        make_figures(Path(args.out), args.iterations, only)
    if not args.no_notebook:
        make_notebook(Path(args.notebook))


if __name__ == "__main__":
    main()
