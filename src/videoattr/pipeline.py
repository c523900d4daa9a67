"""Explain clips end to end and write what a person looks at.

One path serves everything that explains clips: :func:`explain_batch` scores the clean clips
(probabilities, prediction), chooses each clip's target, runs the method and, for perturbation
methods, scores the preserved clips; it returns one :class:`ClipExplanation` per clip, and
:func:`summary_dict` turns one into the record that results carry. ``videoattr explain`` and
``demo`` call it through :func:`explain_clip` (one clip), the dataset runner calls it per batch; so
the single clip is the dataset run with one clip.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from videoattr.core.base import Attributor
from videoattr.core.batching import chunk_slices
from videoattr.core.targets import Target
from videoattr.core.validation import describe
from videoattr.methods.extremal import Perturbation
from videoattr.methods.registry import Explainer, MethodOptions, build_explainer

#: Output files :func:`write_outputs` can write.
OUTPUT_KINDS: tuple[str, ...] = ("gif", "mp4", "png", "npz", "json")

#: ``attribute(x (B, C, T, H, W), targets list[int]) -> (B, A, T, H, W)``.
AttributeFn = Callable[[Tensor, list[int]], Tensor]
#: What :func:`as_method` accepts.
AttributorLike = str | Explainer | Attributor | AttributeFn


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


@dataclass
class Method:
    """A method reduced to what explaining clips needs.

    Attributes:
        name: the method's name as results record it.
        fn: ``(x (B, C, T, H, W), targets list[int]) -> (B, A, T, H, W)``.
        config: the method's settings as plain JSON values (what a resume compares).
        explainer: the named method, when there is one (perturbation methods need it to rebuild the
            preserved clip).
        areas: the perturbation areas (empty for the other methods).
    """

    name: str
    fn: AttributeFn
    config: dict[str, Any]
    explainer: Explainer | None = None
    areas: tuple[float, ...] = ()

    @property
    def is_perturbation(self) -> bool:
        """Whether the maps are perturbation masks (one per area)."""
        return self.explainer is not None and self.explainer.is_perturbation


def as_method(
    attributor: AttributorLike, model: nn.Module, options: MethodOptions | None = None
) -> Method:
    """Turn a method name, an :class:`Explainer`, an :class:`Attributor` or a callable into a :class:`Method`.

    Args:
        attributor: what to run.
        model: the classifier (used to build a method given by name).
        options: options of a method given by name. Default: the method's defaults with the model's
            Grad-CAM layer, reshape, mean and std (when it is a zoo adapter) and no progress bar.

    Raises:
        TypeError: ``options`` with an already built method, or an unsupported ``attributor``.
    """
    if isinstance(attributor, str):
        if options is None:
            options = MethodOptions(
                layer=getattr(model, "layer", None),
                reshape=getattr(model, "reshape", None),
                mean=getattr(model, "mean", None),
                std=getattr(model, "std", None),
                progress=False,
            )
        attributor = build_explainer(attributor, model, options)
    elif options is not None:
        raise TypeError("options apply to a method given by name; the attributor is already built")
    if isinstance(attributor, Explainer):
        explainer = attributor
        return Method(
            name=explainer.name,
            fn=lambda x, t: explainer(x, t),
            config=method_config(explainer.attributor),
            explainer=explainer,
            areas=explainer.areas,
        )
    if isinstance(attributor, Attributor):
        att = attributor
        return Method(
            name=type(att).__name__,
            fn=lambda x, t: att.attribute(x, t),
            config=method_config(att),
        )
    if callable(attributor):
        name = str(getattr(attributor, "__name__", type(attributor).__name__))
        return Method(name=name, fn=attributor, config={"callable": name})
    raise TypeError(
        "attributor must be a method name, an Explainer, an Attributor or a callable "
        f"(x, targets) -> maps; got {describe(attributor)}"
    )


def explain_batch(
    model: nn.Module,
    method: Method,
    x: Tensor,
    targets: Sequence[int | None],
    *,
    keep_preserved: bool = False,
    names: Sequence[str] | None = None,
) -> list[ClipExplanation]:
    """Explain clips of one shape in one call of the method.

    Args:
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits.
        method: the method (see :func:`as_method`).
        x: clips ``(B, C, T, H, W)`` on the model's device.
        targets: one entry per clip: a class index, or ``None`` for the model's top class.
        keep_preserved: also return the preserved clips of perturbation methods (for pictures).
            Default ``False``.
        names: what errors call each clip (e.g. its id). Default: its position.

    Returns:
        One :class:`ClipExplanation` per clip, maps ``(1, A, T, H, W)`` on the CPU in float32.

    Raises:
        ValueError: a target outside the model's classes, or maps of the wrong shape.
    """
    if len(targets) != x.shape[0]:
        raise ValueError(f"targets must have one entry per clip ({x.shape[0]}); got {len(targets)}")
    with torch.no_grad():
        probs = torch.softmax(model(x).float(), dim=1)
    num_classes = probs.shape[1]
    prediction = probs.argmax(dim=1).tolist()
    chosen: list[int] = []
    for b, (t, p) in enumerate(zip(targets, prediction, strict=True)):
        index = p if t is None else int(t)
        if not 0 <= index < num_classes:
            who = names[b] if names is not None else str(b)
            raise ValueError(
                f"target class {index} of clip {who} is outside the model's {num_classes} classes"
            )
        chosen.append(index)
    start = time.perf_counter()
    maps = method.fn(x, chosen)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    seconds = time.perf_counter() - start
    if not isinstance(maps, Tensor) or maps.dim() != 5 or maps.shape[0] != x.shape[0]:
        raise ValueError(
            f"the attributor must return (B, A, T, H, W) maps with B = {x.shape[0]}; got "
            f"{describe(maps)}"
        )
    preserved: Tensor | None = None
    preserved_prob: list[list[float]] = []
    if method.is_perturbation and method.explainer is not None:
        preserved_prob, preserved = _preserved(
            method.explainer, model, x, maps, chosen, keep_clips=keep_preserved
        )
    maps_cpu = maps.detach().to("cpu", torch.float32)
    return [
        ClipExplanation(
            maps=maps_cpu[b : b + 1],
            prediction=prediction[b],
            prediction_prob=float(probs[b, prediction[b]]),
            target=chosen[b],
            target_prob=float(probs[b, chosen[b]]),
            preserved=preserved[b : b + 1].cpu() if preserved is not None else None,
            preserved_prob=preserved_prob[b] if preserved_prob else [],
            seconds=seconds / x.shape[0],
            batch_size=x.shape[0],
        )
        for b in range(x.shape[0])
    ]


def explain_clip(
    model: nn.Module, explainer: Explainer, clip: Tensor, target: Target = None
) -> ClipExplanation:
    """Explain one clip ``(1, C, T, H, W)``: :func:`explain_batch` with one clip.

    For perturbation methods the preserved clip of every area is kept (``result.preserved``) and
    scored, so the summary says how much of the target's probability the mask keeps.

    Raises:
        ValueError: ``target`` is not one class index (or ``None``).
    """
    index = None if target is None else _single_target(target)
    method = as_method(explainer, model)
    return explain_batch(model, method, clip, [index], keep_preserved=True)[0]


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


def perturbation_of(explainer: Explainer, x: Tensor) -> Perturbation:
    """The blur/fade pyramid of clips ``x`` with the perturbation method's own settings."""
    settings = getattr(explainer.attributor, "settings", None)
    if settings is None:
        return Perturbation(x)
    return Perturbation(
        x, num_levels=settings.num_levels, max_blur=settings.max_blur, kind=settings.perturbation
    )


def _preserved(
    explainer: Explainer,
    model: nn.Module,
    x: Tensor,
    masks: Tensor,
    targets: Sequence[int],
    *,
    keep_clips: bool,
) -> tuple[list[list[float]], Tensor | None]:
    """Per clip and area, the target's probability on the preserved clip (and the clips)."""
    b, a = masks.shape[:2]
    flat = masks.detach().reshape(b * a, *masks.shape[2:])
    clip_index = torch.arange(b, device=x.device).repeat_interleave(a)
    target = torch.tensor(list(targets), device=x.device).repeat_interleave(a)
    probs = torch.empty(b * a, device=x.device)
    kept: list[Tensor] = []
    with torch.no_grad():
        perturbation = perturbation_of(explainer, x)
        for sl in chunk_slices(b * a, explainer.attributor.max_batch_size):
            clips = perturbation.apply(flat[sl], clip_index[sl])
            if keep_clips:
                kept.append(clips.cpu())
            logits = model(clips).float()
            probs[sl] = torch.softmax(logits, dim=1).gather(1, target[sl, None])[:, 0]
    rows = [[float(v) for v in row] for row in probs.view(b, a).tolist()]
    clips_out = torch.cat(kept).view(b, a, *x.shape[1:]) if keep_clips else None
    return rows, clips_out


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
    return _preserved(explainer, model, x, masks, targets, keep_clips=False)[0]


def preserved_clips(perturbation: Perturbation, x: Tensor, masks: Tensor) -> Tensor:
    """The preserved clips ``(B, A, C, T, H, W)`` of masks ``(B, A, T, H, W)`` (no model call).

    Args:
        perturbation: the pyramid of ``x`` (:func:`perturbation_of`, :func:`perturbation_from_config`).
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
    settings: Mapping[str, Any] | None = None,
    kinds: Sequence[str] = OUTPUT_KINDS,
    fps: float = 8.0,
    root: str | Path | None = None,
) -> dict[str, Path]:
    """Write the overlay GIF/MP4, the PNG sheet, the maps as ``.npz`` and a JSON summary.

    Files are ``out_dir/stem.{gif,mp4,png,npz,json}``; each is written to a temporary name and renamed,
    so a crash never leaves a half-written file under the final name. The maps are stored as float32.

    Args:
        out_dir: the folder of the files.
        stem: the file name without its ending; must be a plain name (see
            :func:`videoattr.datasets.folders.safe_name`).
        clip: the clip ``(1, C, T, H, W)`` (normalised).
        result: its explanation.
        mean, std: the normalisation to undo for the pictures.
        class_names: the model's class names. Default ``None``.
        method: the method's name, recorded in the JSON. Default ``""``.
        areas: the perturbation areas. Default ``()``.
        settings: extra JSON values recorded in the summary (each under its own key). Default none.
        kinds: which files to write. Default all of :data:`OUTPUT_KINDS`.
        fps: frame rate of the GIF/MP4. Default 8.
        root: when given, every file must lie inside this folder (checked on resolved paths).

    Returns:
        The path of every file written, by kind.

    Raises:
        ValueError: ``stem`` is not a plain file name, or a file would lie outside ``root``.
    """
    from videoattr.viz import panels, save_gif, save_mp4, save_sheet

    if not stem or stem != Path(stem).name or stem in (".", "..") or "\\" in stem:
        raise ValueError(f"stem must be a plain file name; got {stem!r}")
    out = Path(out_dir)
    if root is not None:
        check_inside(out, root)
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
        if root is not None:
            check_inside(final, root)
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
                f,
                maps=result.maps[0].numpy().astype(np.float32),
                areas=np.asarray(list(areas), dtype=np.float64),
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


def check_inside(path: str | Path, root: str | Path) -> Path:
    """``path`` resolved, checked to lie inside ``root`` (symbolic links followed).

    Raises:
        ValueError: the resolved path lies outside the resolved ``root``.
    """
    resolved = Path(path).resolve()
    base = Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise ValueError(
            f"refusing to write {str(path)!r}: it lies outside the output folder {base}"
        )
    return resolved


def summary_dict(
    result: ClipExplanation,
    class_names: Sequence[str] | None,
    *,
    method: str,
    areas: Sequence[float],
    settings: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The JSON record of a :class:`ClipExplanation` (what ``explain``'s JSON and a run's results hold).

    Keys: ``method``, ``prediction`` and ``target`` (``index``, ``name``, ``prob``), ``areas``,
    ``preserved_prob`` (per area, perturbation methods), ``map_shape``, ``seconds``, ``batch_size``,
    then every key of ``settings`` (``model``, ``settings``, ... as the caller gives them).
    """

    def name(i: int) -> str | None:
        return class_names[i] if class_names is not None and i < len(class_names) else None

    record: dict[str, Any] = {
        "method": method,
        "prediction": {
            "index": result.prediction,
            "name": name(result.prediction),
            "prob": result.prediction_prob,
        },
        "target": {"index": result.target, "name": name(result.target), "prob": result.target_prob},
        "areas": list(areas),
        "preserved_prob": result.preserved_prob,
        "map_shape": list(result.maps.shape[1:]),
        "seconds": result.seconds,
        "batch_size": result.batch_size,
    }
    for key, value in (settings or {}).items():
        record.setdefault(key, value)
    return record


def method_config(obj: Any) -> dict[str, Any]:
    """The settings of an attributor as plain JSON values (its ``config()`` when it has one).

    Wrapped attributors (SmoothGrad's inner method) are recorded nested under their attribute name.
    """
    config = getattr(obj, "config", None)
    if callable(config):
        out = config()
        if isinstance(out, dict):
            plain: dict[str, Any] = json.loads(json.dumps(out, default=str))
            return plain
    record: dict[str, Any] = {"class": type(obj).__name__}
    settings = getattr(obj, "settings", None)
    if settings is not None and hasattr(settings, "__dataclass_fields__"):
        items = asdict(settings).items()
    else:
        items = vars(obj).items()
    for k, v in items:
        if k in ("model", "settings"):
            continue
        if isinstance(v, (int, float, str, bool, type(None))):
            record[k] = v
        elif isinstance(v, Attributor):
            record[k] = method_config(v)
        elif isinstance(v, nn.Module):
            record[k] = _module_name(obj, v)
        elif isinstance(v, (tuple, list)) and all(isinstance(e, (int, float, str)) for e in v):
            record[k] = list(v)
        elif isinstance(v, Tensor):
            record[k] = f"tensor{tuple(v.shape)}"
        elif callable(v):  # a name, never a repr with a memory address (it must repeat)
            record[k] = str(getattr(v, "__qualname__", type(v).__name__))
        else:
            record[k] = type(v).__name__
    if isinstance(getattr(obj, "max_batch_size", None), (int, type(None))):
        record.setdefault("max_batch_size", obj.max_batch_size)
    return record


def settings_dict(obj: Any) -> dict[str, Any]:
    """Deprecated name of :func:`method_config`."""
    return method_config(obj)


def _module_name(owner: Any, module: nn.Module) -> str:
    model = getattr(owner, "model", None)
    if isinstance(model, nn.Module):
        for name, m in model.named_modules():
            if m is module:
                return name or "<model>"
    return type(module).__name__
