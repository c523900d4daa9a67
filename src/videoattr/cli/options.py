"""Options shared by the subcommands: checked values, the model, the method, the device.

Every option is checked when the command line is parsed (``type=`` checkers below) or, when a check
needs the model or the file system, by the subcommand before its first video is attributed. A new
option of the model or the method goes into [`add_method_arguments`][videoattr.cli.options.add_method_arguments] and, when the method reads
it, into [`method_options`][videoattr.cli.options.method_options].
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from videoattr.core.devices import resolve_device
from videoattr.datasets.folders import class_from_label, safe_name
from videoattr.methods.registry import (
    build_attributor,
    method_info,
    method_names,
    resolve_method,
)


class CommandError(ValueError):
    """A usage error the command line reports in one line (exit status 2)."""


# -- value checkers for argparse ------------------------------------------------------------------
def _number(kind: Callable[[str], Any], test: Callable[[Any], bool], expected: str) -> Any:
    def check(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
        return value

    check.__name__ = kind.__name__
    return check


positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number(float, lambda v: v > 0 and v < float("inf"), "a number > 0")
area = _number(float, lambda v: 0 < v < 1, "an area fraction in (0, 1)")


def plain_name(option: str) -> Callable[[str], str]:
    """A checker for an option that becomes one folder name (no ``/``, ``\\``, leading ``.``)."""

    def check(text: str) -> str:
        if not text or safe_name(text) != text:
            raise argparse.ArgumentTypeError(
                f"expected a plain folder name (no '/', '\\', control characters or leading '.', at "
                f"most 200 characters); got {text!r}"
            )
        return text

    check.__name__ = option
    return check


# -- shared arguments -------------------------------------------------------------------------------
def add_method_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``explain`` and ``run``: the model, the method and its settings."""
    g = parser.add_argument_group("model and method")
    g.add_argument(
        "--model",
        default="r2plus1d_18",
        help="model name from `videoattr models` (default: r2plus1d_18; 'demo' is the shipped demo model)",
    )
    g.add_argument(
        "--weights",
        default=None,
        metavar="FILE",
        help="local weights file (a state_dict) for the model (default: random weights, except for 'demo')",
    )
    g.add_argument(
        "--download",
        action="store_true",
        help="let the model's loader download named weights that are not cached (default: offline)",
    )
    g.add_argument(
        "--method",
        default="step",
        type=method_name,
        metavar="METHOD",
        help=f"attribution method: {', '.join(method_names())}; the usual aliases work too "
        "(grad, gradcam, grad-cam, ig, integrated-gradients, input-x-gradient, 2d_ep, ...). "
        "Results record the canonical name (default: step)",
    )
    g.add_argument(
        "--area",
        type=area,
        nargs="+",
        default=[0.1],
        help="target area(s) of the perturbation methods, each in (0, 1) (default: 0.1)",
    )
    g.add_argument(
        "--iterations",
        type=positive_int,
        default=None,
        help="perturbation iterations (default: the preset's, 200 for fast, 2000 for paper)",
    )
    g.add_argument(
        "--preset",
        choices=("fast", "paper"),
        default=None,
        help="settings of the perturbation methods: 'fast' (200 Adam iterations, the paper's "
        "schedule compressed into the run) or 'paper' (2000 SGD iterations, as published) "
        "(default: fast)",
    )
    g.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default=None,
        help="perturbation optimiser (default: the preset's)",
    )
    g.add_argument(
        "--polarity",
        default=None,
        choices=("signed", "positive", "negative", "absolute"),
        help="polarity of gradient maps (default: the method's, signed, as in the Python API)",
    )
    g.add_argument("--layer", default=None, help="Grad-CAM layer (default: the model's)")
    g.add_argument(
        "--max-batch-size",
        type=positive_int,
        default=None,
        help="most samples in one forward (default: no bound)",
    )
    add_device_arguments(g)
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g.add_argument(
        "--seed", type=int, default=0, help="seed of noise and tie-breaking (default: 0)"
    )


def add_device_arguments(group: Any) -> None:
    """``--device`` and ``--no-gpu``."""
    group.add_argument(
        "--device",
        default=None,
        help="torch device: cpu, cuda, cuda:1, mps (default: cuda if available, else cpu)",
    )
    group.add_argument("--no-gpu", action="store_true", help="run on the CPU")


def device_of(args: argparse.Namespace, *, local_rank: int | None = None) -> torch.device:
    """The device of ``--device``/``--no-gpu``, checked to exist here.

    Raises:
        CommandError: ``--device`` names no device or one this machine lacks.
    """
    if args.no_gpu:
        return torch.device("cpu")
    try:
        return resolve_device(args.device, local_rank=local_rank)
    except ValueError as err:
        raise CommandError(f"--device: {err}") from None


def output_folder(path: str, option: str = "--out") -> Path:
    """``path`` as the output folder: it may not exist yet, but must not be a file.

    Raises:
        CommandError: ``path`` is an existing file (or another non-folder).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CommandError(f"{option} {path!r} is an existing file; give a folder")
    return p


# -- targets ----------------------------------------------------------------------------------------
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


# -- model and method -------------------------------------------------------------------------------
_API_WORDS = (
    (re.compile(r"call load\([^)]*download=True\)"), "pass --download"),
    (re.compile(r"load\([^)]*download=True\)"), "--download"),
    (re.compile(r"\bdownload=True\b"), "--download"),
    (re.compile(r"\bweights=\.\.\."), "--weights FILE"),
    (re.compile(r"\bpass weights=None\b"), "leave out --weights"),
)


def cli_words(message: str) -> str:
    """A library message with API arguments (``weights=...``, ``download=True``) named as CLI options."""
    for pattern, words in _API_WORDS:
        message = pattern.sub(words, message)
    return message


def load_model(args: argparse.Namespace, device: torch.device) -> Any:
    """The zoo adapter named by ``--model`` with ``--weights``, on ``device``, in eval mode.

    Raises:
        CommandError: the weights file is not a ``state_dict`` (a pickled whole model, garbage or a
            file with code in it: never unpickled), or the model cannot be built as asked.
    """
    from videoattr import zoo

    options: dict[str, Any] = {"download": True} if getattr(args, "download", False) else {}
    not_a_state_dict = CommandError(
        f"--weights {args.weights}: cannot read it as a state_dict (a dict of tensors, as "
        "torch.save(model.state_dict(), FILE) writes); it holds something else (a whole pickled "
        "model, other objects, or no torch file at all), which videoattr does not load"
    )
    try:
        adapter = zoo.load(args.model, weights=args.weights, **options)
    except (ValueError, FileNotFoundError, ImportError) as err:
        if args.weights is not None and "weights_only" in str(err):
            raise not_a_state_dict from None
        raise type(err)(cli_words(str(err))) from None
    except TypeError as err:
        if options and "download" in str(err):
            raise CommandError(
                f"--download: model {args.model} has no weights to download"
            ) from None
        raise
    except Exception as err:  # torch.load's errors for a file that is no state_dict vary widely
        if args.weights is None:
            raise CommandError(f"--model {args.model}: {cli_words(str(err))}") from None
        raise not_a_state_dict from None
    if args.weights is None and args.model != "demo":
        print(
            f"warning: --weights not given, {args.model} has random weights: the maps explain an "
            "untrained network",
            file=sys.stderr,
        )
    return adapter.to(device).eval()


def weights_record(args: argparse.Namespace) -> str:
    """What results record as the model's weights: the ``--weights`` value, else ``"random"``."""
    if args.weights is not None:
        return str(args.weights)
    return "bundled" if args.model == "demo" else "random"


def method_name(text: str) -> str:
    """The canonical name of a registered method or alias (an ``argparse`` type)."""
    try:
        return resolve_method(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


#: Command-line option -> (the method option it sets, how to read it from ``args``).
_OPTIONS: dict[str, tuple[str, Callable[[argparse.Namespace], Any]]] = {
    "--polarity": ("polarity", lambda a: a.polarity),
    "--iterations": ("max_iter", lambda a: a.iterations),
    "--optimizer": ("optimizer", lambda a: a.optimizer),
    "--layer": ("layer", lambda a: a.layer),
}


def method_options(
    args: argparse.Namespace, adapter: Any, *, progress: bool = True
) -> dict[str, Any]:
    """The options of ``--method`` for [`build_attributor`][videoattr.methods.registry.build_attributor].

    The adapter supplies what it knows (Grad-CAM's layer, Integrated Gradients' black baseline, see
    [`videoattr.pipeline.model_options`][videoattr.pipeline.model_options]); options the user gave go to the method; every other
    option keeps the method's default.

    Raises:
        CommandError: an option given that the method does not take (e.g. ``--layer`` for saliency).
    """
    from videoattr.pipeline import model_options

    info = method_info(args.method)
    accepted = info.option_names()
    options = model_options(info.name, adapter)

    def takes(option: str) -> bool:
        return accepted is None or option in accepted

    for flag, (option, read) in _OPTIONS.items():
        value = read(args)
        if value is None:
            continue
        if not takes(option):
            raise CommandError(f"{flag} does not apply to --method {info.name}")
        options[option] = value
        if option == "layer":
            options.pop("reshape", None)  # the adapter's token reshape belongs to its own layer
    if takes("max_batch_size"):
        options["max_batch_size"] = args.max_batch_size
    if takes("seed"):
        options["seed"] = args.seed
    if takes("progress"):
        options["progress"] = progress and not args.no_progress
    if info.kind != "perturbation":
        if args.area != [0.1]:
            raise CommandError(f"--area applies to the perturbation methods, not to {info.name}")
        if args.preset is not None:
            raise CommandError(f"--preset applies to the perturbation methods, not to {info.name}")
    elif takes("preset"):
        options["preset"] = preset_of(args)
    else:
        defaults = getattr(info.factory, "defaults", None)
        if defaults is not None and hasattr(defaults, "preset"):
            if preset_of(args) == "fast":
                fast: dict[str, Any] = {}
                if "max_iter" in options:
                    fast["iterations"] = options.pop("max_iter")
                if "optimizer" in options:
                    fast["optimizer"] = options.pop("optimizer")
                options["settings"] = defaults.fast(**fast)
            else:
                options["settings"] = defaults.preset("paper")
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


def add_picture_arguments(parser: argparse.ArgumentParser) -> None:
    """``--fps`` and ``--scale`` of the pictures (``explain`` and ``render``)."""
    parser.add_argument(
        "--fps", type=positive_float, default=8.0, help="frame rate of the GIF/MP4 (default: 8)"
    )
    parser.add_argument(
        "--scale",
        type=positive_int,
        default=None,
        help="integer magnification of the pictures (default: the sheet picks one so that small "
        "clips stay readable; the GIF/MP4 keep the clip's size)",
    )


def build_method(args: argparse.Namespace, adapter: Any, *, progress: bool = True) -> Any:
    """The [`Method`][videoattr.pipeline.Method] of ``--method`` and its options for ``adapter``."""
    from videoattr.pipeline import as_method

    info = method_info(args.method)
    attributor = build_attributor(
        info.name, adapter, **method_options(args, adapter, progress=progress)
    )
    areas = tuple(args.area) if info.kind == "perturbation" else None
    return as_method(attributor, adapter, areas=areas)
