"""Evaluation of every registered attribution method on held-out synthetic clips: one table, regenerated.

The demo model (``videoattr.demo_model``) explains the true class of held-out ``SyntheticMotion`` clips
(seed 3, never used in training), a third with the evidence in every frame, a third with the evidence in
one window of 4-8 of the 16 frames, a third with the evidence in exactly one half of the clip. Every
method registered in ``videoattr.methods`` when the script runs is built with ``build_attributor`` and the
evaluation options of `EVAL_OPTIONS` (defaults for a method not listed there); a random map is the floor.
Columns: pointing game (frame, clip), mass in the ground truth, half-clip grounding, evidence-frame
share, deletion and insertion AUC, the randomisation sanity check and the time per clip, each with a
bootstrap standard error over clips. The perturbation methods run the fast preset on every clip and the
paper schedule on a subset of clips (extra rows). A second section runs the shipped demo transformer
(``videoattr.demo_transformer``) on the same clips with the methods that explain transformers: the two
attention methods, Grad-CAM on the tokens entering its last block, Integrated Gradients, RISE and STEP
(fast), with the same columns (`TRANSFORMER_METHODS`). The whole markdown file is written by this
script: the command, the setting, the machine, the definitions and the tables.

    python benchmarks/localization.py                          # 36 clips: docs/evaluation.md (CPU hours)
    python benchmarks/localization.py --fast --out /tmp/eval.md  # a quick check (seconds)
    python benchmarks/localization.py --methods saliency,grad_cam,step --clips 12
    python benchmarks/localization.py --sections transformer --fast --out /tmp/t.md  # one section
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from videoattr import zoo
from videoattr.core.ops import gaussian_blur_frames
from videoattr.datasets import SyntheticBatch, SyntheticMotion
from videoattr.demo_model import DATASET_KWARGS, GRADCAM_LAYER, load_demo_model
from videoattr.methods import build_attributor, method_info, method_names, resolve_method
from videoattr.methods.extremal.settings import FAST_ITERATIONS, FAST_MIN_REWARD_WEIGHT
from videoattr.metrics import (
    deletion,
    evidence_frame_share,
    half_grounding,
    insertion,
    mass_in_ground_truth,
    pointing_game,
    randomized_correlation,
)
from videoattr.metrics.stats import bootstrap

ROOT = Path(__file__).resolve().parents[1]
RANDOM = "random"
MapFn = Callable[[Tensor, Tensor], Tensor]

#: Evaluation options per canonical method name (a method not listed runs with its defaults, plus the
#: generic options of `method_options`: the memory bound, the Grad-CAM layer, the areas and preset of
#: the perturbation methods, no progress bars).
EVAL_OPTIONS: dict[str, dict[str, Any]] = {
    "saliency": {"polarity": "absolute"},
    "smoothgrad": {"variant": "square"},
    "integrated_gradients": {"steps": 25},
    "rise": {"n": 1000},  # half the default masks: the cost of RISE is n forwards per clip
}
#: Options that shorten a method in ``--fast`` mode, applied where the method takes them.
QUICK_OPTIONS: dict[str, Any] = {"steps": 4, "n": 8, "max_iter": 4, "window": (8, 28, 28)}
#: The zoo name of the transformer of the second section.
TRANSFORMER = "demo-transformer"
#: The rows of the transformer section: the floor, the methods that read attention, Grad-CAM on the
#: tokens entering the last block, and the gradient, black-box and perturbation methods people run on
#: transformers (STEP with the fast preset only).
TRANSFORMER_METHODS: tuple[str, ...] = (
    RANDOM,
    "attention_rollout",
    "attention_relevance",
    "grad_cam",
    "integrated_gradients",
    "rise",
    "step",
)
SECTIONS = ("all", "cnn", "transformer")


@dataclass
class Row:
    """One row of the table: a method run on some of the clips, and its per-clip scores."""

    label: str
    name: str
    options: dict[str, Any]
    clips: Tensor  # (N,) long indices into the clip set
    seconds: float = 0.0
    scores: dict[str, Tensor] = field(default_factory=dict)
    cached: bool = False
    model: str = "demo"  # the zoo name of the model the row explains


def method_options(
    name: str, args: argparse.Namespace, *, paper: bool = False, layer: str = GRADCAM_LAYER
) -> dict[str, Any]:
    """The options ``name`` is built with for this evaluation (only options the method takes).

    ``layer`` is the CAM methods' layer (default the demo CNN's); a model with a token grid (a zoo
    adapter's ``reshape``) gets its reshape when the method is built (see `factory`).
    """
    info = method_info(name)
    required = set(info.required_options())
    named = set(info.defaults()) | required  # the options it names (not what a **kwargs passes on)

    def takes(option: str) -> bool:
        return option in named

    opts: dict[str, Any] = {}
    if takes("max_batch_size"):
        opts["max_batch_size"] = args.max_batch_size
    if "layer" in required or (info.kind == "cam" and takes("layer")):
        opts["layer"] = layer
    if takes("progress"):
        opts["progress"] = False
    if info.kind == "perturbation":
        opts["areas"] = list(args.areas)
        opts["preset"] = "paper" if paper else "fast"
    opts.update(EVAL_OPTIONS.get(name, {}))
    if args.fast:
        for key, value in QUICK_OPTIONS.items():
            if takes(key) and (key != "max_iter" or info.kind == "perturbation"):
                opts[key] = value
    return {k: v for k, v in opts.items() if takes(k)}


def random_maps(x: Tensor, _y: Tensor) -> Tensor:
    """The floor: uniform noise maps, seeded by each clip's content (never by the model or the batch)."""
    maps = []
    for clip in x:
        seed = int(clip.double().abs().sum().item() * 1000) % (2**31)
        g = torch.Generator().manual_seed(seed)
        maps.append(torch.rand(1, *x.shape[2:], generator=g))
    return torch.stack(maps)


def factory(name: str, options: dict[str, Any]) -> Callable[[nn.Module], MapFn]:
    """``model -> (clips, labels) -> maps`` for a method name (or the random floor)."""
    if name == RANDOM:
        return lambda _model: random_maps

    def build(model: nn.Module) -> MapFn:
        extra: dict[str, Any] = {}
        reshape = getattr(
            model, "reshape", None
        )  # a transformer adapter's tokens -> (B, D, T', H', W')
        if "layer" in options and reshape is not None:
            extra["reshape"] = reshape  # of this very model (the sanity check builds a copy)
        attributor = build_attributor(name, model, **options, **extra)

        def run(x: Tensor, y: Tensor) -> Tensor:
            out: Tensor = attributor.attribute(x, y)
            return out.detach()

        return run

    return build


def clip_set(n: int) -> tuple[SyntheticBatch, Tensor]:
    """``n`` held-out clips, thirds with full, partial and half-clip evidence (in this order).

    Returns:
        The batch and a ``(n,)`` bool tensor marking the half-clip ones.
    """
    sizes = (n - 2 * (n // 3), n // 3, n // 3)
    parts, start = [], 0
    for layout, size in zip(("full", "partial", "half"), sizes, strict=True):
        if size:
            data = SyntheticMotion(seed=3, evidence=layout, **DATASET_KWARGS)  # type: ignore[arg-type]
            parts.append(data.sample(size, start=start))
        start += size
    batch = SyntheticBatch(
        *(torch.cat([getattr(p, f) for p in parts]) for f in SyntheticBatch.__dataclass_fields__)
    )
    half = torch.zeros(n, dtype=torch.bool)
    half[n - sizes[2] :] = True
    return batch, half


def cache_file(row: Row, args: argparse.Namespace, sanity: Tensor) -> Path | None:
    """Where ``--cache`` keeps this row's scores: named by a hash of everything that decides them."""
    if args.cache is None:
        return None
    extra = {} if row.model == "demo" else {"model": row.model}
    key = json.dumps(
        {
            **extra,
            "version": 1,
            "label": row.label,
            "name": row.name,
            "options": repr(sorted(row.options.items())),
            "clips": row.clips.tolist(),
            "sanity": sanity.tolist(),
            "curve_steps": args.curve_steps,
            "chunk": args.chunk,
            "seed": args.seed,
            "max_batch_size": args.max_batch_size,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    stem = row.label if not extra else f"{row.model}-{row.label}"
    safe = "".join(c if c.isalnum() else "_" for c in stem)
    path: Path = args.cache / f"{safe}-{digest}.pt"
    return path


def run_row(
    row: Row,
    model: nn.Module,
    batch: SyntheticBatch,
    half_clips: Tensor,
    blurred: Tensor,
    args: argparse.Namespace,
    sanity: Tensor,
) -> None:
    """Attribute the row's clips in chunks, time it, and score the maps (or read them from the cache)."""
    cached = cache_file(row, args, sanity)
    if cached is not None and cached.exists():
        saved = torch.load(cached, weights_only=True)
        row.seconds, row.scores, row.cached = float(saved["seconds"]), dict(saved["scores"]), True
        print(f"  {row.label}: read from {cached}", file=sys.stderr, flush=True)
        return
    build = factory(row.name, row.options)
    fn = build(model)
    x, y = batch.clips[row.clips], batch.labels[row.clips]
    chunks, start = [], time.perf_counter()
    for lo in range(0, len(row.clips), args.chunk):
        chunks.append(fn(x[lo : lo + args.chunk], y[lo : lo + args.chunk]))
        print(
            f"  {row.label}: {min(lo + args.chunk, len(row.clips))}/{len(row.clips)} clips, "
            f"{time.perf_counter() - start:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    row.seconds = time.perf_counter() - start
    maps = torch.cat(chunks)
    masks, ev = batch.masks[row.clips], batch.evidence_frames[row.clips]
    frame = pointing_game(maps, masks, per="frame")
    steps, bound, base = args.curve_steps, args.max_batch_size, blurred[row.clips]
    half = half_clips[row.clips]
    evidence_half = ev[:, ev.shape[1] // 2 :].any(1).long()
    nan = torch.full((len(row.clips),), float("nan"))
    row.scores = {
        "frame_hits": frame.hits & frame.valid,
        "frame_valid": frame.valid,
        "clip_hits": pointing_game(maps, masks, per="clip").hits,
        "mass": mass_in_ground_truth(maps, masks),
        "half": torch.where(half, half_grounding(maps, evidence_half), nan),
        "share": torch.where(~ev.all(1), evidence_frame_share(maps, ev), nan),
        "deletion": deletion(
            model, x, maps, y, steps=steps, baseline=base, max_batch_size=bound
        ).auc,
        "insertion": insertion(
            model, x, maps, y, steps=steps, baseline=base, max_batch_size=bound
        ).auc,
        "sanity": nan.clone(),
    }
    pick = torch.isin(row.clips, sanity)
    if args.sanity_clips and bool(pick.any()):
        t0 = time.perf_counter()
        rho = randomized_correlation(
            model, build, x[pick], y[pick], seed=args.seed, reference=maps[pick]
        )
        row.scores["sanity"][pick] = rho
        print(
            f"  {row.label}: sanity on {int(pick.sum())} clips, {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"seconds": row.seconds, "scores": row.scores}, cached)


# -- statistics --------------------------------------------------------------------------------------


def class_averaged(hits: Tensor, valid: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Hit rate over the valid entries of each class, averaged over the classes present.

    ``hits``/``valid`` are ``(N,)`` or ``(N, T)``; returns a 0-d float64 tensor (NaN if nothing is valid).
    """
    h = hits.reshape(len(labels), -1).double().sum(1)
    v = valid.reshape(len(labels), -1).double().sum(1)
    onehot = torch.nn.functional.one_hot(labels, num_classes).double()  # (N, K)
    per_h, per_v = h @ onehot, v @ onehot
    present = per_v > 0
    if not bool(present.any()):
        return torch.tensor(float("nan"), dtype=torch.float64)
    return (per_h[present] / per_v[present]).mean()


def column_statistics(labels: Tensor, num_classes: int) -> dict[str, Callable[..., Tensor]]:
    """Per column: ``statistic(scores, idx) -> 0-d tensor`` over the clips ``idx`` of a row."""

    def nanmean(key: str) -> Callable[..., Tensor]:
        return lambda s, idx, _l: torch.nanmean(s[key][idx].double())

    return {
        "Pointing (frame) ↑": lambda s, idx, lab: class_averaged(
            s["frame_hits"][idx], s["frame_valid"][idx], lab[idx], num_classes
        ),
        "Pointing (clip) ↑": lambda s, idx, lab: class_averaged(
            s["clip_hits"][idx], torch.ones_like(s["clip_hits"][idx]), lab[idx], num_classes
        ),
        "Mass in GT ↑": nanmean("mass"),
        "Half-clip grounding ↑": nanmean("half"),
        "Evidence-frame share ↑": nanmean("share"),
        "Deletion AUC ↓": nanmean("deletion"),
        "Insertion AUC ↑": nanmean("insertion"),
        "Sanity ρ ↓": nanmean("sanity"),
    }


def fmt(value: float, se: float | None) -> str:
    if math.isnan(value):
        return "–"
    if se is None or math.isnan(se):
        return f"{value:.3f}"
    return f"{value:.3f} ± {se:.3f}"


def table(rows: list[Row], labels: Tensor, num_classes: int, args: argparse.Namespace) -> list[str]:
    """Markdown table: every column's value ± its bootstrap standard error over the row's clips."""
    stats = column_statistics(labels, num_classes)
    header = ["Method", *stats, "Clips", "Time / clip (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lab = labels[row.clips]
        cells = [f"`{row.label}`" if row.label == row.name else row.label]
        for column, stat in stats.items():
            valid = _valid_clips(row, column)
            if len(valid) == 0:
                cells.append("–")
                continue
            value = float(stat(row.scores, valid, lab))
            reps = bootstrap(
                lambda idx, v=valid, st=stat, sc=row.scores, lb=lab: st(sc, v[idx], lb),
                len(valid),
                resamples=args.resamples,
                seed=args.seed,
            )
            se = (
                float(torch.nanmean((reps - reps.nanmean()) ** 2).sqrt())
                if len(valid) > 1
                else None
            )
            cells.append(fmt(value, se))
        cells += [str(len(row.clips)), f"{row.seconds / len(row.clips):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _valid_clips(row: Row, column: str) -> Tensor:
    """Indices (into the row's clips) where ``column`` is defined."""
    key = {
        "Half-clip grounding ↑": "half",
        "Evidence-frame share ↑": "share",
        "Sanity ρ ↓": "sanity",
    }.get(column)
    n = len(row.clips)
    if key is None:
        return torch.arange(n)
    return torch.nonzero(~torch.isnan(row.scores[key])).flatten()


def leaders(
    rows: list[Row], labels: Tensor, num_classes: int, args: argparse.Namespace
) -> list[str]:
    """Per column: the best row, and the rows that a paired bootstrap cannot tell from it.

    All ``rows`` ran on the same clips; every row's statistic is evaluated on the same resamples of the
    clips where the column is defined for every row, so differences are paired.
    """
    lines = []
    for column, stat in column_statistics(labels, num_classes).items():
        valid = torch.ones(len(rows[0].clips), dtype=torch.bool)
        for row in rows:
            ok = torch.zeros_like(valid)
            ok[_valid_clips(row, column)] = True
            valid &= ok
        idx = torch.nonzero(valid).flatten()
        if len(idx) < 2:
            continue
        lab = labels[rows[0].clips]

        def all_rows(sample: Tensor, v: Tensor = idx, st: Any = stat, lb: Tensor = lab) -> Tensor:
            return torch.stack([st(r.scores, v[sample], lb) for r in rows])

        values = all_rows(torch.arange(len(idx)))
        reps = bootstrap(all_rows, len(idx), resamples=args.resamples, seed=args.seed)
        sign = -1.0 if column.endswith("↓") else 1.0
        best = int(torch.argmax(sign * values))
        ties = []
        for j, row in enumerate(rows):
            if j == best:
                continue
            diff = reps[:, best] - reps[:, j]
            gap = float(values[best] - values[j])
            if abs(gap) <= 2 * float(diff.std()):
                ties.append(f"`{row.label}` ({float(values[j]):.3f})")
        lines.append(
            f"- {column}: `{rows[best].label}` ({float(values[best]):.3f}"
            + (
                f", on the {len(idx)} clips where every row is defined"
                if len(idx) < len(valid)
                else ""
            )
            + "); "
            + (
                "not separable from it (within twice the paired standard error): " + ", ".join(ties)
                if ties
                else "every other row is more than twice the paired standard error behind"
            )
            + "."
        )
    return lines


def separation(rows: list[Row], args: argparse.Namespace) -> list[str]:
    """How many pairs of methods the deletion/insertion AUCs separate (paired bootstrap over clips)."""
    n = len(rows[0].clips)
    lines = []
    for key, title in (("deletion", "Deletion AUC"), ("insertion", "Insertion AUC")):
        values = torch.stack([r.scores[key].double() for r in rows])  # (M, N)
        reps = bootstrap(
            lambda idx, v=values: v[:, idx].mean(1), n, resamples=args.resamples, seed=args.seed
        )
        means = values.mean(1)
        m = len(rows)
        separated, total, closest = 0, 0, []
        for i in range(m):
            for j in range(i + 1, m):
                diff = float(means[i] - means[j])
                se = float((reps[:, i] - reps[:, j]).std())
                total += 1
                if abs(diff) > 2 * se:
                    separated += 1
                closest.append(
                    (abs(diff) / se if se > 0 else math.inf, rows[i].label, rows[j].label, diff, se)
                )
        closest.sort()
        worst = ", ".join(f"`{a}` vs `{b}` ({d:+.3f} ± {s:.3f})" for _z, a, b, d, s in closest[:3])
        lines.append(
            f"- {title}: {separated} of {total} pairs of methods differ by more than twice the paired "
            f"bootstrap standard error of their difference; the closest pairs: {worst}."
        )
    return lines


# -- the document ------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs (shared with other jobs), {torch.get_num_threads()} "
        f"PyTorch thread{'s' if torch.get_num_threads() != 1 else ''}; Python {platform.python_version()}, PyTorch {torch.__version__}, "
        f"{platform.system()} {platform.release()}"
    )


def revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def command_line(argv: Sequence[str]) -> str:
    """The command, without ``--cache DIR`` (a local directory; the rows it held are named below)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--cache":
            skip = True
        elif not arg.startswith("--cache="):
            kept.append(arg)
    argv = kept
    script = Path(sys.argv[0]).resolve()
    name = (
        script.relative_to(ROOT).as_posix()
        if script.is_relative_to(ROOT) and script.suffix == ".py"
        else "benchmarks/localization.py"
    )
    return " ".join(["python", name, *argv])


def describe_options(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        if row.name == RANDOM:
            lines.append(f"- `{row.label}`: uniform noise maps (the floor).")
            continue
        shown = {k: v for k, v in row.options.items() if k not in ("max_batch_size", "progress")}
        opts = ", ".join(f"{k}={v!r}" for k, v in shown.items()) or "defaults"
        summary = method_info(row.name).summary
        lines.append(
            f"- {row.label}: {summary.rstrip('.')}{'.' if summary else ''} Options: {opts}."
        )
    return lines


def document(
    rows: list[Row],
    batch: SyntheticBatch,
    half: Tensor,
    args: argparse.Namespace,
    argv: Sequence[str],
    accuracy: float,
    sanity: Tensor,
    paper_clips: Tensor,
    elapsed: float,
    transformer_rows: Sequence[Row] = (),
    transformer_accuracy: float = float("nan"),
) -> str:
    n = len(batch.labels)
    num_classes = int(DATASET_KWARGS["num_classes"])
    partial = batch.partial & ~half
    main_rows = [r for r in rows if len(r.clips) == n]
    ev_share = (
        float(batch.evidence_frames[batch.partial].float().mean())
        if bool(batch.partial.any())
        else float("nan")
    )
    gt_share = float(batch.masks.float().mean())
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cnn_setting = [
        "## Setting",
        "",
        f"The shipped demo model (`videoattr.demo_model`, a 0.12 M-parameter 3-D CNN; top-1 accuracy "
        f"{accuracy:.2f} on these clips) explains the true class of {n} held-out `SyntheticMotion` clips "
        f"(seed 3, never seen in training; 16 frames of 56 x 56; 4 classes, the direction in which a red "
        f"square moves among moving distractors): {int((~batch.partial).sum())} with the evidence in every "
        f"frame, {int(partial.sum())} with the evidence in one window of 4-8 consecutive frames "
        f"(*partial*), and {int(half.sum())} with the evidence in exactly the first or the second half "
        f"(*half*). Clips are attributed {args.chunk} at a time.",
        "",
        "Every method registered in `videoattr.methods` when the script ran is a row, built with "
        "`build_attributor(name, model, **options)` and the options below (`--methods` selects some). "
        f"CAM methods explain the layer `{GRADCAM_LAYER}`; the perturbation methods keep "
        f"{', '.join(str(a) for a in args.areas)} of the clip and run the `fast` preset "
        f"({FAST_ITERATIONS} Adam iterations from the clip's gradient map over the paper's schedule, "
        f"a reward weight of at least {FAST_MIN_REWARD_WEIGHT:g}) on every clip"
        + (
            f', and the paper schedule (`preset="paper"`: 2000 SGD iterations) on {len(paper_clips)} '
            "clips as the extra rows marked *paper*"
            if len(paper_clips)
            else ""
        )
        + (
            ". **Quick mode (`--fast`): every iterative method was shortened; these numbers only show "
            "that the script runs.**"
            if args.fast
            else "."
        ),
        "",
        *describe_options(rows),
        "",
    ]
    lines = [
        "# Evaluation: every method on held-out synthetic clips",
        "",
        "This page is written in full by `benchmarks/localization.py` (no row or sentence is edited by "
        "hand); regenerate it with:",
        "",
        "```",
        command_line(argv),
        "```",
        "",
        f"Made {stamp} at revision `{revision()}` (this process: {elapsed / 60:.1f} minutes) on: {machine()}. "
        "Timings are wall time of `attribute` on a shared CPU: compare their ratios, not their values.",
        "",
        *(
            [
                "The run was split over several processes that shared a cache (`--cache DIR`, with "
                "`--methods` and `--rows` choosing each one's rows, the same settings otherwise); "
                "these rows were read back from it, their time is that of the process that made "
                "them: " + ", ".join(f"`{r.label}`" for r in rows if r.cached) + ".",
                "",
            ]
            if any(r.cached for r in rows)
            else []
        ),
        *(cnn_setting if rows else []),
        "## Measures",
        "",
        "Each cell is the mean over the row's clips ± its bootstrap standard error (resampling the clips "
        f"{args.resamples} times); ↑ higher is better, ↓ lower is better.",
        "",
        "- **Pointing (frame)**: a frame is a hit when its attribution peak lies within 3.5 px (7 px at "
        "112 x 112, scaled) of the ground-truth square; frames without evidence do not count; the hit rate "
        "is averaged over the classes (the published protocol). Flat plateaus of perturbation masks: the "
        "tied point closest to the plateau's centroid is the peak.",
        "- **Pointing (clip)**: the single peak of the whole clip must lie on the evidence of its frame "
        "(a peak in a frame without evidence is a miss); averaged over classes.",
        f"- **Mass in GT**: share of the positive attribution inside the ground truth (masks at several "
        f"areas are summed first). A random map scores the ground-truth share of the voxels, {gt_share:.3f}.",
        "- **Half-clip grounding** (the *half* clips): 1 when the half of the clip with more positive "
        "attribution is the half that holds the evidence, 0.5 on a tie, else 0 (the synthetic form of the "
        "published protocol that joins two clips and asks which one the map points at). Chance: 0.5.",
        "- **Evidence-frame share** (the *partial* and *half* clips): share of the positive attribution "
        "mass that lies in the frames that show the evidence (`videoattr.metrics.evidence_frame_share`). "
        f"A map spread evenly over time scores the share of evidence frames, here {ev_share:.3f}.",
        f"- **Deletion / insertion AUC**: target probability as the top-ranked voxels are replaced by the "
        f"blurred clip (std 10 px) / restored into the blurred clip, in {args.curve_steps} equal steps of "
        "the voxels; area under the curve (ties in random order). The evidence is about 2 % of the "
        "voxels, so few steps cannot tell methods apart; see *Separation* below.",
        f"- **Sanity ρ** (on {len(sanity)} of the clips): Spearman rank correlation between the method's "
        "|map| for the trained model and for a copy with every layer re-initialised (the last step of the "
        "cascading randomisation of Adebayo et al. 2018, `videoattr.metrics.randomized_correlation`), "
        "explaining the same class. Lower is better: a map that does not depend on the model (such as "
        "the random floor, or an edge detector) scores 1.",
        "- **Time / clip**: wall time of the method on the row's clips divided by their number (metrics "
        "excluded).",
        "",
    ]
    if rows:
        lines += [
            "## All clips",
            "",
            "The rows marked *paper* ran on the clips of the next section only (column *Clips*).",
            "",
            *table(rows, batch.labels, num_classes, args),
            "",
        ]
    if len(paper_clips) and rows:
        same = [r for r in rows if len(r.clips) != n]
        fast_on_subset = [
            Row(
                label=f"{r.label} (fast, same clips)",
                name=r.name,
                options=r.options,
                clips=paper_clips,
                seconds=r.seconds * len(paper_clips) / n,
                scores={k: v[paper_clips] for k, v in r.scores.items()},
            )
            for r in main_rows
            if r.name in {p.name for p in same}
        ]
        lines += [
            f"## The paper schedule on {len(paper_clips)} clips",
            "",
            f"Clips {', '.join(str(int(i)) for i in paper_clips)} of the set; the fast rows are the same "
            "runs as in the table above, restricted to these clips (their time is the average over all "
            "clips). With so few clips the standard errors are large.",
            "",
            *table(same + fast_on_subset, batch.labels, num_classes, args),
            "",
        ]
    if len(main_rows) > 1:
        lines += [
            "## Best per column",
            "",
            "Rows on all clips; differences between methods are paired (the same bootstrap resamples "
            "of the same clips), so they are far less noisy than two standard errors side by side "
            "suggest.",
            "",
            *leaders(main_rows, batch.labels, num_classes, args),
            "",
            "## Separation",
            "",
            *separation(main_rows, args),
            "",
        ]
    if transformer_rows:
        lines += transformer_section(list(transformer_rows), batch, args, transformer_accuracy)
    return "\n".join(lines)


def transformer_section(
    rows: list[Row], batch: SyntheticBatch, args: argparse.Namespace, accuracy: float
) -> list[str]:
    """The demo transformer's section: its setting, its table, the best rows and the separation."""
    num_classes = int(DATASET_KWARGS["num_classes"])
    adapter = zoo.load(TRANSFORMER)
    params = sum(p.numel() for p in adapter.parameters()) / 1e6
    lines = [
        "## The demo transformer",
        "",
        f"The shipped demo transformer (`videoattr.demo_transformer`, zoo name `{TRANSFORMER}`: "
        f"{params:.2f} M parameters, 4 x 8 x 8 tubelets on a 4 x 7 x 7 token grid after a class "
        f"token, 3 blocks of joint space-time attention, a classifier on the class token; top-1 "
        f"accuracy {accuracy:.2f} on these clips) explains the same {len(batch.labels)} clips with "
        "the methods that explain transformers, built the same way (`build_attributor` on the zoo "
        "adapter with the options below). `attention_rollout` and `attention_relevance` read the "
        "attention of its three blocks (the class token's row); Grad-CAM explains the tokens "
        f"entering the last block (`{adapter.layer}`, the adapter's default layer, reshaped to the "
        "token grid: the last block's output tokens get no gradient, as the classifier reads only "
        "the class token after it). Same columns as above; the sanity column randomises every "
        "layer of the transformer, the position embedding and class token included.",
        "",
        *describe_options(rows),
        "",
        *table(rows, batch.labels, num_classes, args),
        "",
    ]
    if len(rows) > 1:
        lines += [
            "### Best per column (demo transformer)",
            "",
            *leaders(rows, batch.labels, num_classes, args),
            "",
            "### Separation (demo transformer)",
            "",
            *separation(rows, args),
            "",
        ]
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clips", type=int, default=None, help="held-out clips (default 36; --fast: 6)"
    )
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated method names or aliases, 'random' for the floor (default: all registered)",
    )
    parser.add_argument(
        "--fast", action="store_true", help="quick mode: few clips, few iterations, few steps"
    )
    parser.add_argument(
        "--sections",
        choices=SECTIONS,
        default="all",
        help="the demo CNN's rows (cnn), the demo transformer's (transformer) or both (default all)",
    )
    parser.add_argument(
        "--transformer-methods",
        default=None,
        help="comma-separated methods of the transformer section (default: "
        + ",".join(TRANSFORMER_METHODS)
        + ")",
    )
    parser.add_argument(
        "--paper-clips",
        type=int,
        default=None,
        help="clips for the paper-schedule rows (default 4; 0: none)",
    )
    parser.add_argument(
        "--paper-methods",
        default="all",
        help="comma-separated perturbation methods that also run the paper schedule (default all)",
    )
    parser.add_argument(
        "--rows",
        choices=("all", "main", "paper"),
        default="all",
        help="run only the rows on all clips or only the paper rows (to split a run with --cache)",
    )
    parser.add_argument("--areas", type=float, nargs="+", default=[0.05], help="perturbation areas")
    parser.add_argument(
        "--curve-steps", type=int, default=None, help="deletion/insertion steps (default 64)"
    )
    parser.add_argument(
        "--sanity-clips",
        type=int,
        default=None,
        help="clips for the sanity column (default 8; 0: none)",
    )
    parser.add_argument(
        "--resamples", type=int, default=None, help="bootstrap resamples (default 1000)"
    )
    parser.add_argument(
        "--chunk", type=int, default=12, help="clips per attribute call (default 12)"
    )
    parser.add_argument("--max-batch-size", type=int, default=32, help="memory bound (default 32)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the randomisation and bootstrap"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="directory keeping each row's scores; a rerun with the same settings reads them back",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "evaluation.md", help="markdown output"
    )
    args = parser.parse_args(argv)
    quick = args.fast
    for key, full, small in (
        ("clips", 36, 6),
        ("paper_clips", 4, 1),
        ("curve_steps", 64, 8),
        ("sanity_clips", 8, 2),
        ("resamples", 1000, 100),
    ):
        if getattr(args, key) is None:
            setattr(args, key, small if quick else full)
    if args.clips < 1:
        parser.error(f"--clips must be >= 1; got {args.clips}")
    for key in ("paper_clips", "sanity_clips"):
        if not 0 <= getattr(args, key) <= args.clips:
            parser.error(
                f"--{key.replace('_', '-')} must lie in [0, --clips]; got {getattr(args, key)}"
            )
    return args


def select_methods(spec: str | None, *, transformer: bool = False) -> list[str]:
    """The rows' method names: ``spec`` (names or aliases) or, by default, every registered method the
    section's model runs (the CNN: all but the attention methods; the transformer: `TRANSFORMER_METHODS`).

    Raises:
        ValueError: an unknown name, or an attention method asked of the CNN.
    """
    if spec is None:
        if transformer:
            registered = set(method_names())
            return [n for n in TRANSFORMER_METHODS if n == RANDOM or n in registered]
        # the attention methods need a transformer; the demo model is a 3-D CNN
        return [RANDOM, *(n for n in method_names() if method_info(n).kind != "attention")]
    names = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            names.append(RANDOM if part.lower() == RANDOM else resolve_method(part))
    if not transformer:
        attention = [n for n in names if n != RANDOM and method_info(n).kind == "attention"]
        if attention:
            raise ValueError(
                f"--methods: {', '.join(attention)} read(s) a transformer's attention and cannot run "
                "on the demo CNN; they run in the transformer section (--transformer-methods)"
            )
    return list(dict.fromkeys(names))


def main(argv: Sequence[str] | None = None) -> None:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    cnn = args.sections in ("all", "cnn")
    names = select_methods(args.methods) if cnn else []
    perturbation = set(method_names("perturbation"))
    paper_names = (
        [n for n in names if n in perturbation]
        if args.paper_methods == "all"
        else [n for n in select_methods(args.paper_methods) if n in perturbation and n in names]
    )

    model = load_demo_model()
    batch, half_clips = clip_set(args.clips)
    # the deleted/inserted baseline: each frame blurred with std 20 px at 112 x 112, scaled (10 px here)
    blurred = gaussian_blur_frames(batch.clips, 20.0 * min(batch.clips.shape[3:]) / 112.0)
    n = args.clips
    with torch.no_grad():
        accuracy = float((model(batch.clips).argmax(1) == batch.labels).float().mean())
    every = torch.arange(n)
    sanity = (
        torch.linspace(0, n - 1, args.sanity_clips).round().long().unique()
        if args.sanity_clips
        else every[:0]
    )
    # the paper subset: the first clips of the partial block (one per class when 4), else the first clips
    partial_idx = torch.nonzero(batch.partial).flatten()
    pool = torch.cat([partial_idx, every[~batch.partial]])
    paper_clips = pool[: args.paper_clips].sort().values

    rows = (
        []
        if args.rows == "paper"
        else [
            Row(
                label=name,
                name=name,
                options={} if name == RANDOM else method_options(name, args),
                clips=every,
            )
            for name in names
        ]
    )
    rows += [
        Row(
            label=f"{name} (paper, {len(paper_clips)} clip{'s' if len(paper_clips) > 1 else ''})",
            name=name,
            options=method_options(name, args, paper=True),
            clips=paper_clips,
        )
        for name in paper_names
        if len(paper_clips) and args.rows != "main" and cnn
    ]
    for row in rows:
        print(f"{row.label} ...", file=sys.stderr, flush=True)
        # the sanity column on the rows over all clips only (the paper rows would pay a second schedule)
        checked = sanity if len(row.clips) == n else sanity[:0]
        run_row(row, model, batch, half_clips, blurred, args, checked)

    transformer_rows: list[Row] = []
    transformer_accuracy = float("nan")
    if args.sections in ("all", "transformer"):
        adapter = zoo.load(TRANSFORMER).eval()
        with torch.no_grad():
            predicted = adapter(batch.clips).argmax(1)
        transformer_accuracy = float((predicted == batch.labels).float().mean())
        layer = adapter.layer or ""
        transformer_rows = [
            Row(
                label=name,
                name=name,
                options={} if name == RANDOM else method_options(name, args, layer=layer),
                clips=every,
                model=TRANSFORMER,
            )
            for name in select_methods(args.transformer_methods, transformer=True)
        ]
        for row in transformer_rows:
            print(f"{TRANSFORMER}: {row.label} ...", file=sys.stderr, flush=True)
            run_row(row, adapter, batch, half_clips, blurred, args, sanity)
    text = document(
        rows,
        batch,
        half_clips,
        args,
        raw,
        accuracy,
        sanity,
        paper_clips,
        time.perf_counter() - began,
        transformer_rows,
        transformer_accuracy,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
