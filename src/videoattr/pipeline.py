"""Explain clips end to end and write what a person looks at.

One path serves everything that explains clips: [`explain_batch`][videoattr.pipeline.explain_batch] scores the clean clips
(probabilities, prediction), chooses each clip's target, runs the method and, for perturbation
methods, scores the preserved clips; it returns one [`ClipExplanation`][videoattr.pipeline.ClipExplanation] per clip, and
[`summary_dict`][videoattr.pipeline.summary_dict] turns one into the record that results carry. ``videoattr explain`` and
``demo`` call it through [`explain_clip`][videoattr.pipeline.explain_clip] (one clip), the dataset runner calls it per batch; so
the single clip is the dataset run with one clip.
"""

from __future__ import annotations

import inspect
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
from videoattr.core.validation import check_areas, describe
from videoattr.methods.extremal import Perturbation
from videoattr.methods.registry import (
    Explainer,
    MethodOptions,
    build_attributor,
    build_explainer,
    method_info,
    method_names,
    resolve_method,
)

#: Output files [`write_outputs`][videoattr.pipeline.write_outputs] can write.
OUTPUT_KINDS: tuple[str, ...] = ("gif", "mp4", "png", "npz", "json")

#: ``fn(x (B, C, T, H, W), targets list[int], keys list[str] | None) -> (B, A, T, H, W)``.
MethodFn = Callable[[Tensor, list[int], "list[str] | None"], Tensor]
#: ``attribute(x (B, C, T, H, W), targets list[int]) -> (B, A, T, H, W)``: a plain callable method.
AttributeFn = Callable[[Tensor, list[int]], Tensor]
#: What [`as_method`][videoattr.pipeline.as_method] accepts.
AttributorLike = str | Attributor | Explainer | AttributeFn

#: The area of a perturbation method when none is given (the paper's).
DEFAULT_AREAS: tuple[float, ...] = (0.1,)


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
        name: the method's canonical registered name (what results record).
        fn: ``(x (B, C, T, H, W), targets list[int], keys) -> (B, A, T, H, W)``; ``keys`` are the
            clips' ids (SmoothGrad seeds each clip's noise with its key, so a clip gets the same
            noise in any batch), or ``None`` for positions in the call.
        config: the method's complete configuration (its ``config()``), what a resume compares.
        attributor: the attributor, when there is one.
        areas: the perturbation areas (empty for the other methods).
        kind: ``"gradient"``, ``"cam"``, ``"perturbation"`` or ``"callable"``.
    """

    name: str
    fn: MethodFn
    config: dict[str, Any]
    attributor: Attributor | None = None
    areas: tuple[float, ...] = ()
    kind: str = "gradient"

    @property
    def is_perturbation(self) -> bool:
        """Whether the maps are perturbation masks (one per area)."""
        return self.kind == "perturbation"


def model_options(name: str, model: nn.Module) -> dict[str, Any]:
    """The options a method takes from a zoo adapter (the ones it accepts).

    Grad-CAM gets the adapter's ``layer`` and ``reshape``; Integrated Gradients starts from the
    normalised black clip when the adapter has ``mean`` and ``std`` (the reference implementation's
    baseline); perturbation methods get no progress bar. Nothing else: every other option keeps the
    method's default.

    Args:
        name: a registered method name or alias.
        model: the classifier (a zoo adapter has ``layer``, ``reshape``, ``mean``, ``std``).
    """
    info = method_info(name)
    found: dict[str, Any] = {}
    if info.kind == "cam" and getattr(model, "layer", None) is not None:
        found["layer"] = model.layer
        found["reshape"] = getattr(model, "reshape", None)
    mean, std = getattr(model, "mean", None), getattr(model, "std", None)
    if info.name == "integrated_gradients" and mean is not None and std is not None:
        found.update(baseline="black", mean=mean, std=std)
    if info.kind == "perturbation":
        found["progress"] = False
    accepted = info.option_names()
    return {k: v for k, v in found.items() if accepted is None or k in accepted}


def as_method(
    attributor: AttributorLike,
    model: nn.Module,
    options: Mapping[str, Any] | MethodOptions | None = None,
    *,
    areas: Sequence[float] | None = None,
) -> Method:
    """Turn a method name, an [`Attributor`][videoattr.core.base.Attributor] or a callable into a [`Method`][videoattr.pipeline.Method].

    Args:
        attributor: a registered method name or alias (built for ``model`` with
            [`model_options`][videoattr.pipeline.model_options] and ``options``), an [`Attributor`][videoattr.core.base.Attributor], a deprecated
            [`Explainer`][videoattr.methods.registry.Explainer], or a callable ``(x, targets) -> (B, A, T, H, W)``.
        model: the classifier.
        options: the method's options when it is given by name (see
            [`build_attributor`][videoattr.methods.registry.build_attributor]). Default none.
        areas: the areas of a perturbation method. Default: the Explainer's, else ``(0.1,)``.

    Raises:
        TypeError: ``options`` with an already built method, or an unsupported ``attributor``.
        ValueError: an unknown method name or areas outside ``(0, 1)``.
    """
    if isinstance(options, MethodOptions):  # the deprecated options object
        if not isinstance(attributor, str):
            raise TypeError(
                "options apply to a method given by name; the attributor is already built"
            )
        attributor = build_explainer(attributor, model, options)
        options = None
    if isinstance(attributor, str):
        name = resolve_method(attributor)
        attributor = build_attributor(
            name, model, **{**model_options(name, model), **(options or {})}
        )
    elif options:
        raise TypeError("options apply to a method given by name; the attributor is already built")
    if isinstance(attributor, Explainer):
        areas = attributor.areas if areas is None else areas
        attributor = attributor.attributor
    if isinstance(attributor, Attributor):
        return _attributor_method(attributor, areas)
    if callable(attributor):
        fn = attributor
        name = str(getattr(fn, "__name__", type(fn).__name__))
        return Method(
            name=name, fn=lambda x, t, _k: fn(x, t), config={"callable": name}, kind="callable"
        )
    raise TypeError(
        "attributor must be a method name, an Attributor or a callable (x, targets) -> maps; got "
        f"{describe(attributor)}"
    )


def _attributor_method(att: Attributor, areas: Sequence[float] | None) -> Method:
    name = att.method
    kind = method_info(name).kind if name in method_names() else "gradient"
    takes_keys = "keys" in inspect.signature(att.attribute).parameters
    config = method_config(att)
    if kind == "perturbation":
        chosen = tuple(check_areas(list(DEFAULT_AREAS if areas is None else areas)))

        def perturb(x: Tensor, t: list[int], _keys: list[str] | None) -> Tensor:
            out: Tensor = att.attribute(x, t, areas=list(chosen))
            return out

        return Method(name, perturb, config, att, chosen, kind)
    if areas is not None:
        raise ValueError(f"areas apply to perturbation methods; {name!r} is a {kind} method")

    def attribute(x: Tensor, t: list[int], keys: list[str] | None) -> Tensor:
        out: Tensor = att.attribute(x, t, keys=keys) if takes_keys and keys else att.attribute(x, t)
        return out

    return Method(name, attribute, config, att, (), kind)


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
    """Explain clips of one shape in one call of the method.

    Args:
        model: the classifier, ``(B, C, T, H, W) -> (B, K)`` logits.
        method: the method (see [`as_method`][videoattr.pipeline.as_method]).
        x: clips ``(B, C, T, H, W)`` on the model's device.
        targets: one entry per clip: a class index, or ``None`` for the model's top class.
        keep_preserved: also return the preserved clips of perturbation methods (for pictures).
            Default ``False``.
        names: what errors call each clip (e.g. its id). Default: its position.
        keys: per-clip keys of methods that draw random numbers (SmoothGrad's noise), e.g. dataset
            ids, so that a clip's result does not depend on its batch. Default: positions.

    Returns:
        One [`ClipExplanation`][videoattr.pipeline.ClipExplanation] per clip, maps ``(1, A, T, H, W)`` on the CPU in float32.

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
    maps = method.fn(x, chosen, list(keys) if keys is not None else None)
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
    if method.is_perturbation and method.attributor is not None:
        preserved_prob, preserved = _preserved(
            method.attributor, model, x, maps, chosen, keep_clips=keep_preserved
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
    model: nn.Module,
    method: Method | Attributor | Explainer,
    clip: Tensor,
    target: Target = None,
    *,
    key: str | None = None,
) -> ClipExplanation:
    """Explain one clip ``(1, C, T, H, W)``: [`explain_batch`][videoattr.pipeline.explain_batch] with one clip.

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


def perturbation_of(attributor: Attributor | Explainer, x: Tensor) -> Perturbation:
    """The blur/fade pyramid of clips ``x`` with the perturbation method's own settings."""
    if isinstance(attributor, Explainer):
        attributor = attributor.attributor
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
        perturbation = perturbation_of(attributor, x)
        for sl in chunk_slices(b * a, attributor.max_batch_size):
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
    return _preserved(explainer.attributor, model, x, masks, targets, keep_clips=False)[0]


def preserved_clips(perturbation: Perturbation, x: Tensor, masks: Tensor) -> Tensor:
    """The preserved clips ``(B, A, C, T, H, W)`` of masks ``(B, A, T, H, W)`` (no model call).

    Args:
        perturbation: the pyramid of ``x`` ([`perturbation_of`][videoattr.pipeline.perturbation_of], [`perturbation_from_config`][videoattr.pipeline.perturbation_from_config]).
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


#: Settings worth naming in a picture's header, as ``config key -> label``.
KEY_SETTINGS: dict[str, str] = {
    "preset": "preset",
    "max_iter": "iterations",
    "optimizer": "optimizer",
    "steps": "steps",
    "n": "samples",
    "variant": "variant",
    "layer": "layer",
    "polarity": "polarity",
}


def key_settings(config: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The few settings a picture names, from a method's configuration (and ``extra`` first).

    Example:
        >>> key_settings({"max_iter": 200, "optimizer": "adam", "lr": 0.05}, area="0.1")
        {'area': '0.1', 'iterations': 200, 'optimizer': 'adam'}
    """
    out = {k: v for k, v in extra.items() if v is not None}
    for key, label in KEY_SETTINGS.items():
        value = config.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            out.setdefault(label, value)
    return out


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
    random_weights: bool = False,
    scale: int | None = None,
    note: str | None = None,
) -> dict[str, Path]:
    """Write the overlay GIF/MP4, the PNG sheet, the maps as ``.npz`` and a JSON summary.

    Files are ``out_dir/stem.{gif,mp4,png,npz,json}``; each is written to a temporary name and renamed,
    so a crash never leaves a half-written file under the final name. The maps are stored as float32.
    The sheet's header and the videos' caption strip come from one
    [`SheetCaption`][videoattr.viz.style.SheetCaption]: the explained target and
    ``p(target | clip)``, the prediction and ``p(prediction | clip)``, the method and its key
    settings (:func:`key_settings` of ``settings["settings"]``), ``p(target | preserved)`` for
    perturbation methods, and a visible note when the weights are random.

    Args:
        out_dir: the folder of the files.
        stem: the file name without its ending; must be a plain name (see
            [`safe_name`][videoattr.datasets.folders.safe_name]).
        clip: the clip ``(1, C, T, H, W)`` (normalised).
        result: its explanation.
        mean, std: the normalisation to undo for the pictures.
        class_names: the model's class names. Default ``None``.
        method: the method's name, recorded in the JSON and the header. Default ``""``.
        areas: the perturbation areas. Default ``()``.
        settings: extra JSON values recorded in the summary (each under its own key; the method's
            configuration under ``"settings"``, the preset under ``"preset"``). Default none.
        kinds: which files to write. Default all of [`OUTPUT_KINDS`][videoattr.pipeline.OUTPUT_KINDS].
        fps: frame rate of the GIF/MP4. Default 8.
        root: when given, every file must lie inside this folder (checked on resolved paths).
        random_weights: the model has no trained weights (the pictures say so). Default ``False``.
        scale: integer magnification of the pictures; default ``None``: the sheet picks one so small
            inputs stay readable, the videos keep the clip's size.
        note: one more line for the header (e.g. the video's name). Default none.

    Returns:
        The path of every file written, by kind.

    Raises:
        ValueError: ``stem`` is not a plain file name, or a file would lie outside ``root``.
    """
    from videoattr.viz import OverlayStyle, SheetCaption, panels, save_gif, save_mp4, save_sheet

    if not stem or stem != Path(stem).name or stem in (".", "..") or "\\" in stem:
        raise ValueError(f"stem must be a plain file name; got {stem!r}")
    out = Path(out_dir)
    if root is not None:
        check_inside(out, root)
    out.mkdir(parents=True, exist_ok=True)
    perturbation = result.preserved is not None or bool(result.preserved_prob)
    names = list(class_names) if class_names is not None else None
    recorded = dict(settings or {})
    config = recorded.get("settings")
    config = config if isinstance(config, Mapping) else {}

    def name(i: int) -> str | int:
        return names[i] if names is not None and 0 <= i < len(names) else i

    area_text = ", ".join(f"{a:g}" for a in areas) if perturbation and areas else None
    caption = SheetCaption(
        target=name(result.target),
        target_probability=result.target_prob,
        prediction=name(result.prediction),
        prediction_probability=result.prediction_prob,
        method=method or None,
        settings=key_settings(config, area=area_text, preset=recorded.get("preset")),
        preserved_probability=result.preserved_prob[0] if result.preserved_prob else None,
        random_weights=random_weights,
        note=note,
    )
    style = OverlayStyle(
        value_range=(0.0, 1.0) if perturbation else None,
        polarity="signed" if config.get("polarity") == "signed" else None,
        mean=mean,
        std=std,
    )
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
            clip_cpu,
            result.maps,
            result.preserved,
            style=style,
            caption=caption,
            scale=scale if scale is not None else 1,
        )
        for kind, writer in (("gif", save_gif), ("mp4", save_mp4)):
            if kind in kinds:
                final, tmp = target_path(kind)
                writer(tmp, video, fps=fps)
                tmp.replace(final)
                paths[kind] = final
    if "png" in kinds:
        final, tmp = target_path("png")
        save_sheet(
            tmp,
            clip_cpu,
            result.maps,
            result.preserved,
            caption=caption,
            style=style,
            map_names=map_names,
            scale=scale,
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
        summary = summary_dict(result, names, method=method, areas=areas, settings=recorded)
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
    """The JSON record of a [`ClipExplanation`][videoattr.pipeline.ClipExplanation] (what ``explain``'s JSON and a run's results hold).

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
    """Deprecated name of [`method_config`][videoattr.pipeline.method_config]."""
    return method_config(obj)


def _module_name(owner: Any, module: nn.Module) -> str:
    model = getattr(owner, "model", None)
    if isinstance(model, nn.Module):
        for name, m in model.named_modules():
            if m is module:
                return name or "<model>"
    return type(module).__name__
