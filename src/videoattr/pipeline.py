"""Explain one clip end to end and write what a person looks at: the steps shared by the command line's
``explain`` and ``demo`` and by the dataset runner.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from videoattr.core.batching import chunk_slices
from videoattr.core.targets import Target
from videoattr.methods.extremal import Perturbation
from videoattr.methods.registry import Explainer

#: Output files [`write_outputs`][videoattr.pipeline.write_outputs] can write.
OUTPUT_KINDS: tuple[str, ...] = ("gif", "mp4", "png", "npz", "json")


@dataclass
class ClipExplanation:
    """The explanation of one clip.

    Attributes:
        maps: ``(1, A, T, H, W)`` attribution maps or perturbation masks (CPU).
        prediction: index of the model's top class on the clip.
        prediction_prob: its softmax probability.
        target: index of the class explained.
        target_prob: the softmax probability of the target on the clip.
        preserved: the perturbed ("preserved") clips ``(1, A, C, T, H, W)`` for perturbation methods
            (CPU), else ``None``.
        preserved_prob: per area, the target probability on the preserved clip (perturbation methods).
        seconds: wall time of the attribution.
    """

    maps: Tensor
    prediction: int
    prediction_prob: float
    target: int
    target_prob: float
    preserved: Tensor | None = None
    preserved_prob: list[float] = field(default_factory=list)
    seconds: float = 0.0


def explain_clip(
    model: nn.Module, explainer: Explainer, clip: Tensor, target: Target = None
) -> ClipExplanation:
    """Run ``explainer`` on one clip ``(1, C, T, H, W)`` and score what it found.

    For perturbation methods the preserved clip of every area is rebuilt with the same blur pyramid
    and scored, so the summary says how much of the target's probability the mask keeps.
    """
    with torch.no_grad():
        probs = torch.softmax(model(clip), dim=1)[0]
    prediction = int(probs.argmax())
    target_index = prediction if target is None else _single_target(target)
    start = time.perf_counter()
    maps = explainer(clip, target_index)
    seconds = time.perf_counter() - start
    result = ClipExplanation(
        maps=maps.detach().cpu(),
        prediction=prediction,
        prediction_prob=float(probs[prediction]),
        target=target_index,
        target_prob=float(probs[target_index]),
        seconds=seconds,
    )
    if explainer.is_perturbation:
        masks = maps[0]
        with torch.no_grad():
            clip_index = torch.zeros(masks.shape[0], dtype=torch.long, device=clip.device)
            preserved = perturbation_of(explainer, clip).apply(masks, clip_index)
        result.preserved = preserved.unsqueeze(0).cpu()
        result.preserved_prob = preserved_probabilities(
            explainer, model, clip, maps, [target_index]
        )[0]
    return result


def perturbation_of(explainer: Explainer, x: Tensor) -> Perturbation:
    """The blur/fade pyramid of clips ``x`` with the perturbation method's own settings."""
    settings = getattr(explainer.attributor, "settings", None)
    if settings is None:
        return Perturbation(x)
    return Perturbation(
        x, num_levels=settings.num_levels, max_blur=settings.max_blur, kind=settings.perturbation
    )


def preserved_probabilities(
    explainer: Explainer, model: nn.Module, x: Tensor, masks: Tensor, targets: Sequence[int]
) -> list[list[float]]:
    """Per clip and area, the target's probability on the clip preserved by the mask.

    Args:
        explainer: a perturbation method (its pyramid settings and ``max_batch_size`` are used).
        model: the classifier.
        x: clips ``(B, C, T, H, W)``.
        masks: ``(B, A, T, H, W)`` masks in ``[0, 1]``.
        targets: one class index per clip.

    Returns:
        ``B`` lists of ``A`` probabilities; empty for methods that are not perturbation methods.
    """
    if not explainer.is_perturbation:
        return []
    b, a = masks.shape[:2]
    flat = masks.detach().reshape(b * a, *masks.shape[2:])
    clip_index = torch.arange(b, device=x.device).repeat_interleave(a)
    target = torch.tensor(list(targets), device=x.device).repeat_interleave(a)
    probs = torch.empty(b * a, device=x.device)
    with torch.no_grad():
        perturbation = perturbation_of(explainer, x)
        for sl in chunk_slices(b * a, explainer.attributor.max_batch_size):
            logits = model(perturbation.apply(flat[sl], clip_index[sl])).float()
            probs[sl] = torch.softmax(logits, dim=1).gather(1, target[sl, None])[:, 0]
    return [[float(v) for v in row] for row in probs.view(b, a).tolist()]


def _single_target(target: Target) -> int:
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, Tensor) and target.numel() == 1:
        return int(target.item())
    if isinstance(target, Sequence) and len(target) == 1 and isinstance(target[0], int):
        return int(target[0])
    raise ValueError(f"target must be one class index for one clip; got {target!r}")


def write_outputs(
    out_dir: str | Path,
    stem: str,
    clip: Tensor,
    result: ClipExplanation,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    class_names: Sequence[str] | None = None,
    method: str = "",
    areas: Sequence[float] = (),
    settings: dict[str, Any] | None = None,
    kinds: Sequence[str] = OUTPUT_KINDS,
    fps: float = 8.0,
) -> dict[str, Path]:
    """Write the overlay GIF/MP4, the PNG sheet, the maps as ``.npz`` and a JSON summary.

    Files are ``out_dir/stem.{gif,mp4,png,npz,json}``; each is written to a temporary name and renamed,
    so a crash never leaves a half-written file under the final name.

    Returns:
        The path of every file written, by kind.
    """
    from videoattr.viz import panels, save_gif, save_mp4, save_sheet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    perturbation = result.preserved is not None
    value_range = (0.0, 1.0) if perturbation else None
    names = list(class_names) if class_names is not None else None
    label = names[result.target] if names and result.target < len(names) else str(result.target)
    map_names = [f"area {a:g}" for a in areas] if perturbation and areas else None
    paths: dict[str, Path] = {}
    clip_cpu = clip.detach().cpu()

    def target_path(kind: str) -> tuple[Path, Path]:
        final = out / f"{stem}.{kind}"
        return final, final.with_name(f".{stem}.partial.{kind}")

    if "gif" in kinds or "mp4" in kinds:
        video = panels(
            clip_cpu, result.maps, result.preserved, value_range=value_range, mean=mean, std=std
        )
        for kind, writer in (("gif", save_gif), ("mp4", save_mp4)):
            if kind in kinds:
                final, tmp = target_path(kind)
                writer(tmp, video, fps=fps)
                tmp.replace(final)
                paths[kind] = final
    if "png" in kinds:
        final, tmp = target_path("png")
        score = result.preserved_prob[0] if result.preserved_prob else result.target_prob
        save_sheet(
            tmp,
            clip_cpu,
            result.maps,
            result.preserved,
            label=label,
            score=score,
            value_range=value_range,
            mean=mean,
            std=std,
            map_names=map_names,
        )
        tmp.replace(final)
        paths["png"] = final
    if "npz" in kinds:
        final, tmp = target_path("npz")
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, maps=result.maps[0].numpy().astype(np.float16), areas=np.asarray(list(areas))
            )
        tmp.replace(final)
        paths["npz"] = final
    if "json" in kinds:
        final, tmp = target_path("json")
        summary = summary_dict(result, names, method=method, areas=areas, settings=settings)
        summary["files"] = {k: p.name for k, p in paths.items()}
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.replace(final)
        paths["json"] = final
    return paths


def summary_dict(
    result: ClipExplanation,
    class_names: Sequence[str] | None,
    *,
    method: str,
    areas: Sequence[float],
    settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON-serialisable summary of a [`ClipExplanation`][videoattr.pipeline.ClipExplanation]."""

    def name(i: int) -> str | None:
        return class_names[i] if class_names is not None and i < len(class_names) else None

    return {
        "method": method,
        "prediction": {
            "index": result.prediction,
            "name": name(result.prediction),
            "prob": result.prediction_prob,
        },
        "target": {"index": result.target, "name": name(result.target), "prob": result.target_prob},
        "areas": list(areas),
        "preserved_prob": result.preserved_prob,
        "map_shape": list(result.maps.shape),
        "seconds": result.seconds,
        "settings": settings or {},
    }


def settings_dict(obj: Any) -> dict[str, Any]:
    """Settings of an attributor as plain JSON values (dataclass settings when it has them)."""
    settings = getattr(obj, "settings", None)
    if settings is not None and hasattr(settings, "__dataclass_fields__"):
        return {
            k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
            for k, v in asdict(settings).items()
        }
    return {
        k: v for k, v in vars(obj).items() if isinstance(v, (int, float, str, bool, type(None)))
    }
