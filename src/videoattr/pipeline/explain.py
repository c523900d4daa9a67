"""Explain clips: one function, [`explain_batch`][videoattr.pipeline.explain.explain_batch], for one
clip and for a dataset's batches (probabilities, prediction, targets, maps, preserved probabilities)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from videoattr.core.base import Attributor
from videoattr.core.batching import chunk_slices, score_all
from videoattr.core.pyramid import reuse_pyramids
from videoattr.core.targets import Target, target_classes
from videoattr.core.validation import describe
from videoattr.methods.extremal import Perturbation
from videoattr.pipeline.methods import Method, as_method


@dataclass
class ClipExplanation:
    """The explanation of one clip.

    Attributes:
        maps: ``(1, A, T, H, W)`` attribution maps or perturbation masks (CPU, float32).
        prediction: index of the model's top class on the clip.
        prediction_prob: its softmax probability.
        target: index of the class explained.
        target_prob: the softmax probability of the target on the clip.
        preserved: the perturbed ("preserved") clips ``(1, A, C, T, H, W)`` for perturbation methods
            (CPU) when asked for, else ``None``.
        preserved_prob: per area, the target probability on the preserved clip (perturbation methods).
        seconds: wall time of the attribution (a batch's time divided by its clips).
        batch_size: clips attributed in the same call.
    """

    maps: Tensor
    prediction: int
    prediction_prob: float
    target: int
    target_prob: float
    preserved: Tensor | None = None
    preserved_prob: list[float] = field(default_factory=list)
    seconds: float = 0.0
    batch_size: int = 1


def explain_targets(
    model: nn.Module,
    method: Method,
    x: Tensor,
    target: Target | Sequence[int | None] = None,
    *,
    keep_preserved: bool = False,
    names: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
) -> list[list[ClipExplanation]]:
    """Explain clips of one shape for one class or several each, in one call of the method.

    The classes are chosen once, by [`target_classes`][videoattr.core.targets.target_classes] on
    the clean clips' logits, and the method is called with them, a ``(B,)`` tensor per class (so
    a clip's map for a class is the same whether other classes were asked for or not).

    Args:
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits.
        method: the method (see [`as_method`][videoattr.pipeline.as_method]).
        x: clips ``(B, C, T, H, W)`` on the model's device.
        target: any class target (see `videoattr.core.targets.Target`: ``None`` for each clip's top
            class, an int, one class per clip, a ``(B, K)`` tensor, ``"top3"``), or one entry per
            clip with ``None`` for the clip's top class. Default ``None``.
        keep_preserved: also return the preserved clips of perturbation methods (for pictures).
            Default ``False``.
        names: what errors call each clip (e.g. its id). Default: its position.
        keys: per-clip keys of methods that draw random numbers (SmoothGrad's noise), e.g. dataset
            ids, so that a clip's result does not depend on its batch. Default: positions.

    Returns:
        Per clip, one [`ClipExplanation`][videoattr.pipeline.ClipExplanation] per class, maps
        ``(1, A, T, H, W)`` on the CPU in float32.

    Raises:
        ValueError: a target outside the model's classes, or maps of the wrong shape.
    """
    b = x.shape[0]
    with torch.no_grad():
        logits = model(x).float()
    probs = torch.softmax(logits, dim=1)
    num_classes = probs.shape[1]
    if isinstance(target, Sequence) and not isinstance(target, (str, Tensor)):
        if len(target) != b:
            raise ValueError(f"targets must have one entry per clip ({b}); got {len(target)}")
        for i, t in enumerate(target):
            if isinstance(t, int) and not 0 <= t < num_classes:
                who = names[i] if names is not None else str(i)
                raise ValueError(
                    f"target class {t} of clip {who} is outside the model's {num_classes} classes"
                )
    chosen = target_classes(target, logits).to(x.device)  # (B, K)
    k = chosen.shape[1]
    prediction = probs.argmax(dim=1).tolist()
    per_class = []
    scores: list[Tensor] = []  # the method's own preserved probabilities, (B, A) per class
    # One pyramid of the clips for every class and for the preserved clips (perturbation methods).
    with reuse_pyramids():
        start = time.perf_counter()
        for j in range(k):  # one call per class: a clip's map does not depend on the other classes
            if method.scored is not None:
                maps, preserved_probability = method.scored(x, chosen[:, j])
                scores.append(preserved_probability)
            else:
                maps = method.fn(x, chosen[:, j], list(keys) if keys is not None else None)
            if not isinstance(maps, Tensor) or maps.dim() != 5 or maps.shape[0] != b:
                raise ValueError(
                    f"the attributor must return (B, A, T, H, W) maps with B = {b}; got "
                    f"{describe(maps)}"
                )
            per_class.append(maps)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        seconds = time.perf_counter() - start
        maps = torch.stack(per_class, dim=1)  # (B, K, A, T, H, W)
        preserved: Tensor | None = None
        preserved_prob: list[list[float]] = []
        if method.is_perturbation and method.attributor is not None:
            preserved_prob, preserved = _preserved(
                method.attributor,
                model,
                x,
                maps,
                chosen,
                torch.stack(scores, dim=1) if scores else None,
                keep_clips=keep_preserved,
            )
    flat_maps = maps.reshape(b * k, *maps.shape[2:])
    maps_cpu = flat_maps.detach().to("cpu", torch.float32)
    chosen_list = chosen.tolist()
    return [
        [
            ClipExplanation(
                maps=maps_cpu[i * k + j : i * k + j + 1],
                prediction=prediction[i],
                prediction_prob=float(probs[i, prediction[i]]),
                target=int(chosen_list[i][j]),
                target_prob=float(probs[i, chosen_list[i][j]]),
                preserved=(
                    preserved[i * k + j : i * k + j + 1].cpu() if preserved is not None else None
                ),
                preserved_prob=preserved_prob[i * k + j] if preserved_prob else [],
                seconds=seconds / (b * k),
                batch_size=b,
            )
            for j in range(k)
        ]
        for i in range(b)
    ]


def explain_batch(
    model: nn.Module,
    method: Method,
    x: Tensor,
    targets: Sequence[int | None],
    *,
    keep_preserved: bool = False,
    names: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
) -> list[ClipExplanation]:
    """Explain clips of one shape for one class each: `videoattr.pipeline.explain.explain_targets`
    with one entry per clip.

    Args:
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits.
        method: the method (see [`as_method`][videoattr.pipeline.as_method]).
        x: clips ``(B, C, T, H, W)`` on the model's device.
        targets: one entry per clip: a class index, or ``None`` for the model's top class.
        keep_preserved: also return the preserved clips of perturbation methods. Default ``False``.
        names: what errors call each clip. Default: its position.
        keys: per-clip keys of methods that draw random numbers. Default: positions.

    Returns:
        One [`ClipExplanation`][videoattr.pipeline.ClipExplanation] per clip.

    Raises:
        ValueError: a target outside the model's classes, or maps of the wrong shape.
    """
    if len(targets) != x.shape[0]:
        raise ValueError(f"targets must have one entry per clip ({x.shape[0]}); got {len(targets)}")
    found = explain_targets(
        model, method, x, list(targets), keep_preserved=keep_preserved, names=names, keys=keys
    )
    return [per_clip[0] for per_clip in found]


def explain_clip(
    model: nn.Module,
    method: Method | Attributor,
    clip: Tensor,
    target: Target = None,
    *,
    key: str | None = None,
) -> ClipExplanation:
    """Explain one clip ``(1, C, T, H, W)``: `explain_batch` with one clip.

    For perturbation methods the preserved clip of every area is kept (``result.preserved``) and
    scored, so the summary says how much of the target's probability the mask keeps.

    Args:
        model: the classifier.
        method: a [`Method`][videoattr.pipeline.Method] (see [`as_method`][videoattr.pipeline.as_method]) or an attributor.
        clip: the clip.
        target: one class index, or ``None`` for the top class. Default ``None``.
        key: the clip's key for methods that draw noise (the dataset run uses the clip's id).
            Default: its position, 0.

    Raises:
        ValueError: ``target`` is not one class index (or ``None``).
    """
    index = None if target is None else _single_target(target)
    if not isinstance(method, Method):
        method = as_method(method, model)
    keys = [key] if key is not None else None
    return explain_batch(model, method, clip, [index], keep_preserved=True, keys=keys)[0]


def perturbation_from_config(x: Tensor, config: Mapping[str, Any]) -> Perturbation:
    """The blur/fade pyramid of clips ``x`` with the settings a result records (``num_levels``,
    ``max_blur``, ``perturbation``; the defaults where a key is missing)."""
    kwargs: dict[str, Any] = {}
    if "num_levels" in config:
        kwargs["num_levels"] = int(config["num_levels"])
    if "max_blur" in config:
        kwargs["max_blur"] = float(config["max_blur"])
    if "perturbation" in config:
        kwargs["kind"] = config["perturbation"]
    return Perturbation(x, **kwargs)


def perturbation_of(attributor: Attributor, x: Tensor) -> Perturbation:
    """The blur/fade pyramid of clips ``x`` with the perturbation method's own settings."""
    settings = getattr(attributor, "settings", None)
    if settings is None:
        return Perturbation(x)
    return Perturbation(
        x, num_levels=settings.num_levels, max_blur=settings.max_blur, kind=settings.perturbation
    )


def _preserved(
    attributor: Attributor,
    model: nn.Module,
    x: Tensor,
    masks: Tensor,
    targets: Tensor,
    scores: Tensor | None,
    *,
    keep_clips: bool,
) -> tuple[list[list[float]], Tensor | None]:
    """Per clip, class and area, the target's probability on the preserved clip (and the clips).

    Args:
        attributor: the perturbation method (its settings give the pyramid).
        model: the classifier.
        x: the clips ``(B, C, T, H, W)``.
        masks: ``(B, K, A, T, H, W)`` masks for ``K`` classes per clip.
        targets: ``(B, K)`` the classes.
        scores: ``(B, K, A)`` the probabilities the method computed, or ``None`` to score the
            preserved clips here.
        keep_clips: also return the preserved clips, ``(B * K, A, C, T, H, W)`` on the CPU.

    Returns:
        Per row ``b * K + k``, the probabilities of its ``A`` areas, and the clips or ``None``.
    """
    b, k, a = masks.shape[:3]
    n = b * k * a
    flat = masks.detach().reshape(n, *masks.shape[3:])
    clip_index = torch.arange(b, device=x.device).repeat_interleave(k * a)
    target = targets.to(x.device).reshape(-1).repeat_interleave(a)
    kept: list[Tensor] = []
    if scores is None or keep_clips:
        with torch.no_grad():
            perturbation = perturbation_of(attributor, x)

    def preserved(sl: slice) -> tuple[Tensor, Tensor]:
        clips = perturbation.apply(flat[sl], clip_index[sl])
        if keep_clips:
            kept.append(clips.cpu())
        return clips, torch.arange(sl.start, sl.stop, device=x.device)

    def probability(logits: Tensor, row: Tensor) -> Tensor:
        return torch.softmax(logits.float(), dim=1).gather(1, target[row, None])[:, 0]

    if scores is None:
        probs = score_all(
            n, preserved, lambda clips, _row: model(clips), probability, attributor.max_batch_size
        )
    else:
        probs = scores.float()
        if keep_clips:
            with torch.no_grad():
                for sl in chunk_slices(n, attributor.max_batch_size):
                    preserved(sl)
    rows = [[float(v) for v in row] for row in probs.reshape(b * k, a).tolist()]
    clips_out = torch.cat(kept).view(b * k, a, *x.shape[1:]) if keep_clips else None
    return rows, clips_out


def preserved_clips(perturbation: Perturbation, x: Tensor, masks: Tensor) -> Tensor:
    """The preserved clips ``(B, A, C, T, H, W)`` of masks ``(B, A, T, H, W)`` (no model call).

    Args:
        perturbation: the pyramid of ``x`` ([`perturbation_of`][videoattr.pipeline.explain.perturbation_of], [`perturbation_from_config`][videoattr.pipeline.perturbation_from_config]).
        x: the clips ``(B, C, T, H, W)``.
        masks: the masks.
    """
    b, a = masks.shape[:2]
    clip_index = torch.arange(b, device=x.device).repeat_interleave(a)
    with torch.no_grad():
        out = perturbation.apply(masks.reshape(b * a, *masks.shape[2:]).to(x.device), clip_index)
    return out.view(b, a, *x.shape[1:])


def _single_target(target: Target) -> int:
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, Tensor) and target.numel() == 1:
        return int(target.item())
    if isinstance(target, Sequence) and len(target) == 1 and isinstance(target[0], int):
        return int(target[0])
    raise ValueError(f"target must be one class index for one clip; got {target!r}")
