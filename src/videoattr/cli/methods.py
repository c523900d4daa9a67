"""The method of ``--method`` and its options, the preset, ``--target`` requests."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from videoattr.cli.options import CommandError
from videoattr.datasets.folders import class_from_label
from videoattr.methods.registry import (
    build_attributor,
    method_info,
)


@dataclass(frozen=True)
class TargetRequest:
    """What ``--target`` asks for: fixed classes, the top ``k`` classes, or (neither) the label.

    Attributes:
        classes: class indices explained for every clip (one or several), or ``()``.
        top: ``k`` of a ``topK`` request, else ``0``.
    """

    classes: tuple[int, ...] = ()
    top: int = 0

    @property
    def several(self) -> bool:
        """Whether each clip is explained for more than one class."""
        return len(self.classes) > 1 or self.top > 1

    def for_clip(self, probabilities: torch.Tensor, label_class: int | None) -> list[int | None]:
        """The classes to explain for one clip given its ``(K,)`` probabilities and its label's class."""
        if self.top:
            return [
                int(i) for i in probabilities.topk(min(self.top, probabilities.numel())).indices
            ]
        if self.classes:
            return list(self.classes)
        return [label_class]


def target_request(text: str | None, class_names: Sequence[str] | None) -> TargetRequest:
    """Read ``--target``: a class index or name, a comma-separated list of them, or ``topK``.

    Raises:
        CommandError: a part that is no class, or ``top0``.
    """
    from videoattr.core.targets import parse_topk

    if text is None:
        return TargetRequest()
    if text.strip().lower().startswith("top"):
        try:
            return TargetRequest(top=parse_topk(text.strip().lower(), name="--target"))
        except ValueError as err:
            raise CommandError(str(err)) from None
    parts = [p for p in (q.strip() for q in text.split(",")) if p] if "," in text else [text]
    if not parts:
        raise CommandError(f"--target {text!r} names no class")
    found = []
    for part in parts:
        index = class_from_label(part, class_names, name="--target")
        assert index is not None  # strict lookups return an index or raise
        found.append(index)
    return TargetRequest(classes=tuple(dict.fromkeys(found)))


#: Command-line option -> (the method option it sets, how to read it from ``args``).
_OPTIONS: dict[str, tuple[str, Callable[[argparse.Namespace], Any]]] = {
    "--polarity": ("polarity", lambda a: a.polarity),
    "--iterations": ("max_iter", lambda a: a.iterations),
    "--optimizer": ("optimizer", lambda a: a.optimizer),
    "--layer": ("layer", lambda a: _layers(a.layer)),
}


def _layers(text: str | None) -> str | list[str] | None:
    """``--layer``: one dotted name, or several separated by commas (fused by the CAM methods)."""
    if text is None or "," not in text:
        return text
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names if len(names) > 1 else names[0]


def parse_method_options(items: Sequence[str] | None) -> dict[str, Any]:
    """``--option KEY=VALUE`` pairs; values read as Python literals (``500``, ``(4, 8, 8)``, ``0.5``,
    ``None``, ``"blur"``), anything else as a string.

    Raises:
        CommandError: an item without ``=`` or with an empty key.
    """
    import ast

    options: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise CommandError(
                f"--option expects KEY=VALUE with KEY a method option (e.g. n=500, window=(4,8,8)); "
                f"got {item!r}"
            )
        try:
            options[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            options[key] = raw.strip()
    return options


def method_options(
    args: argparse.Namespace, adapter: Any, *, progress: bool = True
) -> dict[str, Any]:
    """The options of ``--method`` for [`build_attributor`][videoattr.methods.registry.build_attributor].

    The adapter supplies what it knows (Grad-CAM's layer, Integrated Gradients' black baseline, see
    `videoattr.pipeline.model_options`); options the user gave go to the method; every other
    option keeps the method's default.

    Raises:
        CommandError: an option given that the method does not take (e.g. ``--layer`` for saliency).
    """
    from videoattr.pipeline import model_options

    info = method_info(args.method)
    accepted = info.option_names()
    options = model_options(info.name, adapter)

    # Options filled in automatically go only to a method that declares them; options the user
    # typed also go to a method that forwards options (SmoothGrad to its inner method).
    declared = set(accepted) if accepted is not None else set(info.defaults())

    def takes(option: str) -> bool:
        return option in declared

    def may_take(option: str) -> bool:
        return accepted is None or option in accepted

    for flag, (option, read) in _OPTIONS.items():
        value = read(args)
        if value is None:
            continue
        if not may_take(option):
            raise CommandError(f"{flag} does not apply to --method {info.name}")
        options[option] = value
        if option == "layer":
            options.pop("reshape", None)  # the adapter's token reshape belongs to its own layer
    if takes("max_batch_size") and args.max_batch_size is not None:
        options["max_batch_size"] = args.max_batch_size
    if takes("seed"):
        options["seed"] = args.seed
    if takes("progress"):
        options["progress"] = progress and not args.no_progress
    for option, value in parse_method_options(getattr(args, "method_option", None)).items():
        if not may_take(option):
            known = ", ".join(sorted(accepted)) if accepted is not None else "see its docs"
            raise CommandError(
                f"--option {option}=... does not apply to --method {info.name} (its options: {known})"
            )
        options[option] = value
    if info.kind != "perturbation":
        if args.area != [0.1]:
            raise CommandError(f"--area applies to the perturbation methods, not to {info.name}")
        if args.preset is not None:
            raise CommandError(f"--preset applies to the perturbation methods, not to {info.name}")
    else:
        if takes("areas"):
            options["areas"] = tuple(args.area)
        if takes("preset"):
            options["preset"] = preset_of(args)
    return options


#: The preset of the perturbation methods when ``--preset`` is not given.
DEFAULT_PRESET = "fast"


def preset_of(args: argparse.Namespace) -> str | None:
    """The preset in force: ``--preset`` (default ``"fast"``) for perturbation methods, else ``None``."""
    if method_info(args.method).kind != "perturbation":
        return None
    return str(args.preset or DEFAULT_PRESET)


def announce(method: Any, adapter: Any, device: torch.device, preset: str | None) -> None:
    """Before long work: say which preset runs and about how long one clip takes.

    The time is measured: one forward and backward of the model on a batch of one clip per area,
    times the iterations.
    """
    import time

    if not method.is_perturbation:
        return
    config = method.config
    iterations = int(config.get("max_iter", 0) or 0)
    size = adapter.size if isinstance(adapter.size, (tuple, list)) else (adapter.size, adapter.size)
    x = torch.zeros(
        len(method.areas), 3, adapter.clip_len, *size, device=device, requires_grad=True
    )
    start = time.perf_counter()
    adapter(x).sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    per_clip = (time.perf_counter() - start) * iterations
    hint = " (--preset fast is quicker)" if preset == "paper" else ""
    print(
        f"{method.name}: preset {preset}, {iterations} iterations ({config.get('optimizer')}) for "
        f"{len(method.areas)} area(s); expected about {per_clip:.0f}s per clip on {device}{hint}",
        file=sys.stderr,
    )


def build_method(args: argparse.Namespace, adapter: Any, *, progress: bool = True) -> Any:
    """The [`Method`][videoattr.pipeline.Method] of ``--method`` and its options for ``adapter``."""
    from videoattr.pipeline import as_method

    info = method_info(args.method)
    try:
        attributor = build_attributor(
            info.name, adapter, **method_options(args, adapter, progress=progress)
        )
    except TypeError as err:  # the registry names API options; say the command line's
        message = str(err)
        for flag, (option, _read) in _OPTIONS.items():
            message = message.replace(f"'{option}'", flag)
        raise CommandError(f"--method {info.name}: {message}") from None
    areas = tuple(args.area) if info.kind == "perturbation" else None
    return as_method(attributor, adapter, areas=areas)
