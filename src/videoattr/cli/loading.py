"""The model of ``--model``/``--weights``/``--download``, with errors in the command line's words."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import torch

from videoattr.cli.options import CommandError

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

    Random weights (no ``--weights``) are drawn after seeding PyTorch with ``--seed``: the same seed
    gives the same model in every process.

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
    seed = getattr(args, "seed", None)
    if seed is not None and args.weights is None:
        torch.manual_seed(seed)  # the random weights are drawn from it: the same seed, the same model
    try:
        adapter = zoo.load(args.model, weights=args.weights, **options)
    except (ValueError, FileNotFoundError, ImportError) as err:
        message = str(err)
        if args.weights is not None and "weights_only" in message:
            raise not_a_state_dict from None
        if args.weights is not None and str(args.weights) in message:
            raise CommandError(f"--weights: {cli_words(message)}") from None
        raise type(err)(cli_words(message)) from None
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
    if args.weights is None and not _bundled(args.model):
        print(
            f"warning: --weights not given, {args.model} has random weights (drawn with --seed "
            f"{seed}): the maps explain an untrained network",
            file=sys.stderr,
        )
    return adapter.to(device).eval()


def weights_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What results record about the weights: ``weights`` (see `weights_record`) and, for random
    weights, ``weights_seed``, the ``--seed`` they were drawn with."""
    record: dict[str, Any] = {"weights": weights_record(args)}
    if record["weights"] == "random":
        record["weights_seed"] = getattr(args, "seed", None)
    return record


def weights_record(args: argparse.Namespace) -> str:
    """What results record as the model's weights: the ``--weights`` value, else ``"random"``."""
    if args.weights is not None:
        return str(args.weights)
    return "bundled" if _bundled(args.model) else "random"


def _bundled(name: str) -> bool:
    """Whether the zoo model ``name`` ships its weights with videoattr (the demo models)."""
    from videoattr import zoo

    try:
        return zoo.get_entry(name).weights == "bundled"
    except (TypeError, ValueError):
        return False
