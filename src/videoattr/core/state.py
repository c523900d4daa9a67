"""Leaving no trace: the model's state is restored after every attribution call, even on exceptions."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock that serialises attribution sessions on ``model`` across threads."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = threading.RLock()
            _LOCKS[model] = lock
        return lock


@contextmanager
def model_session(
    model: nn.Module, *, eval_mode: bool = True, freeze_params: bool = True
) -> Iterator[None]:
    """Prepare ``model`` for attribution and restore it afterwards.

    Inside the block gradients are enabled, the model is in eval mode (``eval_mode=True``) and its
    parameters do not require gradients (``freeze_params=True``; only input gradients are needed, which
    saves the weight-gradient work). On exit, also after an exception, every module's ``training`` flag,
    every parameter's ``requires_grad`` flag and, with ``eval_mode=False``, every buffer (BatchNorm's
    ``running_mean``, ``running_var``, ``num_batches_tracked``, which train-mode forwards update) are put
    back as they were.

    Sessions on one model are serialised by a per-model re-entrant lock: two threads attributing with the
    same model run one after the other (each sees the model as its owner left it), and a session may be
    nested inside another one of the same thread.

    Raises:
        RuntimeError: when called under ``torch.inference_mode()``, where no gradient can be computed.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "attribution needs autograd, but torch.inference_mode() is active; call it outside that block"
        )
    with model_lock(model):
        training = [(m, m.training) for m in model.modules()]
        requires = [(p, p.requires_grad) for p in model.parameters()]
        buffers = [] if eval_mode else [(b, b.detach().clone()) for b in model.buffers()]
        try:
            if eval_mode:
                model.eval()
            if freeze_params:
                for p, _ in requires:
                    p.requires_grad_(False)
            with torch.enable_grad():
                yield
        finally:
            for m, flag in training:
                m.training = flag
            for p, flag in requires:
                p.requires_grad_(flag)
            with torch.no_grad():
                for b, saved in buffers:
                    b.copy_(saved)
