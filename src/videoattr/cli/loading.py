"""The model of ``--model``/``--weights``/``--download``, with errors in the command line's words."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

from videoattr.cli.options import CommandError
from videoattr.core.errors import ArgumentError, Setting, python_words

#: The command line's option for each argument of ``zoo.load`` that an error can advise.
FLAGS = {"weights": "--weights", "download": "--download"}


def cli_words(setting: Setting) -> str:
    """A setting an error advises, in the command line's words (``pass --download``)."""
    flag = FLAGS.get(setting.name)
    if flag is None:
        return python_words(setting)
    if setting.value == "True":
        return f"pass {flag}"
    if setting.value in ("None", "False"):
        return f"leave out {flag}"
    value = setting.value.strip("'")  # a placeholder such as 'PATH' reads PATH on a command line
    return f"pass {flag} {value}"


def command_error(err: ArgumentError) -> CommandError:
    """``err`` as one command-line error: prefixed by its argument's option, settings as options."""
    flag = FLAGS.get(err.argument or "")
    message = err.words(cli_words)
    return CommandError(f"{flag}: {message}" if flag else message)


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
        torch.manual_seed(
            seed
        )  # the random weights are drawn from it: the same seed, the same model
    try:
        adapter = zoo.load(args.model, weights=args.weights, **options)
    except ArgumentError as err:
        raise command_error(err) from None
    except (ValueError, FileNotFoundError, ImportError):
        raise  # an unknown model, a missing extra: one line as it is
    except Exception as err:  # a loader's own errors for a file that is no state_dict vary widely
        if args.weights is None:
            raise CommandError(f"--model {args.model}: {err}") from None
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
