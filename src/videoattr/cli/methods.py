"""The method of ``--method`` and its options, the preset, ``--target`` requests."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from videoattr.cli.options import CommandError
from videoattr.core.errors import OptionError
from videoattr.core.targets import TargetRequest, parse_target
from videoattr.methods.registry import (
    build_attributor,
    method_info,
)


def target_request(text: str | None, class_names: Sequence[str] | None) -> TargetRequest:
    """Read ``--target`` (see [`parse_target`][videoattr.core.targets.parse_target]): a class index
    or name, a comma-separated list of them, or ``topK``.

    Raises:
        CommandError: a part that is no class, ``top0``, or more classes than the model has.
    """
    try:
        return parse_target(text, class_names, name="--target")
    except (TypeError, ValueError) as err:
        raise CommandError(str(err)) from None


#: The command-line options that set a method option: flag -> (the method option it sets, how to
#: read it from ``args``). ``explain``, ``run`` and ``evaluate`` pass them to the methods that take
#: them.
METHOD_FLAGS: dict[str, tuple[str, Callable[[argparse.Namespace], Any]]] = {
    "--polarity": ("polarity", lambda a: a.polarity),
    "--iterations": ("max_iter", lambda a: a.iterations),
    "--optimizer": ("optimizer", lambda a: a.optimizer),
    "--layer": ("layer", lambda a: _layers(a.layer)),
}


def flag_options(args: argparse.Namespace) -> Iterator[tuple[str, str, Any]]:
    """``(flag, option, value)`` for each flag of `METHOD_FLAGS` that ``args`` sets: a flag left
    out (``None``: the method's default stays, ``None`` being a value for the methods) or that
    the command does not define is no option."""
    for flag, (option, read) in METHOD_FLAGS.items():
        if not hasattr(args, flag.removeprefix("--").replace("-", "_")):
            continue
        value = read(args)
        if value is not None:
            yield flag, option, value


#: The other command-line options that set a method option (`method_options` reads them itself).
OTHER_METHOD_FLAGS: dict[str, str] = {
    "max_batch_size": "--max-batch-size",
    "seed": "--seed",
    "areas": "--area",
    "preset": "--preset",
    "progress": "--no-progress",
}


def option_flag(option: str) -> str:
    """How the command line sets the method option ``option``: its own flag (``--layer``), else
    ``--option NAME=...``."""
    for flag, (name, _read) in METHOD_FLAGS.items():
        if name == option:
            return flag
    return OTHER_METHOD_FLAGS.get(option, f"--option {option}=...")


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

    for flag, option, value in flag_options(args):
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
            known = ", ".join(map(option_flag, sorted(accepted or ())))
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


def announce(
    method: Any,
    adapter: Any,
    device: torch.device,
    preset: str | None,
    *,
    clips: int | None = None,
    suggest_step: bool = False,
) -> float:
    """Before any work: say what one clip costs, how long it should take, and the memory bound.

    The time is the method's forwards (see [`method_cost`][videoattr.pipeline.cost.method_cost])
    times one forward of the model on one clip, measured here; a forward with a backward pass
    counts as three.

    Args:
        method: the [`Method`][videoattr.pipeline.Method].
        adapter: the zoo adapter (``clip_len``, ``size``).
        device: where the model runs.
        preset: the perturbation preset in force, or ``None``.
        clips: the number of clips (videos) to explain, to add the total. Default: not said.
        suggest_step: also say how to ask for STEP and what it would cost.

    Returns:
        The expected seconds per clip.
    """
    from videoattr.methods.extremal.settings import FAST_ITERATIONS
    from videoattr.pipeline.cost import Cost, layer_channels, method_cost, time_forward

    size = adapter.size if isinstance(adapter.size, (tuple, list)) else (adapter.size, adapter.size)
    dtype = next((p.dtype for p in adapter.parameters() if p.is_floating_point()), torch.float32)
    x = torch.zeros(1, 3, adapter.clip_len, *size, device=device, dtype=dtype)
    channels = layer_channels(adapter, method, x) if method.name == "score_cam" else None
    forward_s = time_forward(adapter, x)
    cost = method_cost(method, x.shape[1:], channels=channels)
    per_clip = cost.seconds(forward_s)
    bound = cost.max_batch_size
    what = f"{method.name}: "
    if method.is_perturbation:
        config = method.config
        what += (
            f"preset {preset}, {config.get('max_iter')} iterations ({config.get('optimizer')}) "
            f"for {len(method.areas)} area(s); "
        )
    total = f", about {duration(per_clip * clips)} for {clips} clips" if clips else ""
    hint = " (--preset fast is quicker)" if preset == "paper" else ""
    print(
        f"{what}{cost.describe()} per clip; one forward took {forward_s:.2f}s on {device}: "
        f"expected about {duration(per_clip)} per clip{total}{hint}",
        file=sys.stderr,
    )
    if bound is None:
        memory = "no bound: all the rows of a call (clips x areas) in one forward"
    else:
        memory = f"at most {bound} clip{'s' if bound != 1 else ''} per forward"
    print(f"  memory: {memory} (--max-batch-size changes it)", file=sys.stderr)
    if suggest_step:
        step = Cost(2, FAST_ITERATIONS)
        print(
            f"  the paper's STEP: --method step (about {duration(step.seconds(forward_s))} per "
            "clip here)",
            file=sys.stderr,
        )
    return per_clip


def duration(seconds: float) -> str:
    """``"12s"``, ``"4.5 min"`` or ``"2.1 h"``."""
    if seconds < 90:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def build_method(args: argparse.Namespace, adapter: Any, *, progress: bool = True) -> Any:
    """The [`Method`][videoattr.pipeline.Method] of ``--method`` and its options for ``adapter``."""
    from videoattr.pipeline import as_method

    info = method_info(args.method)
    try:
        attributor = build_attributor(
            info.name, adapter, **method_options(args, adapter, progress=progress)
        )
    except OptionError as err:  # options named as data: spelled as the command line's options
        raise CommandError(f"--method {info.name}: {err.words(name=option_flag)}") from None
    except TypeError as err:  # a wrong type of value: the method's own words
        raise CommandError(f"--method {info.name}: {err}") from None
    areas = tuple(args.area) if info.kind == "perturbation" else None
    return as_method(attributor, adapter, areas=areas)
