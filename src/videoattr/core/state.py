"""Leaving no trace: the model's state is restored after every attribution call, even on exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def model_session(
    model: nn.Module, *, eval_mode: bool = True, freeze_params: bool = True
) -> Iterator[None]:
    """Prepare ``model`` for attribution and restore it afterwards.

    Inside the block gradients are enabled, the model is in eval mode (``eval_mode=True``) and its
    parameters do not require gradients (``freeze_params=True``; only input gradients are needed, which
    saves the weight-gradient work). On exit, also after an exception, every module's ``training`` flag
    and every parameter's ``requires_grad`` flag are put back as they were.

    Raises:
        RuntimeError: when called under ``torch.inference_mode()``, where no gradient can be computed.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "attribution needs autograd, but torch.inference_mode() is active; call it outside that block"
        )
    training = [(m, m.training) for m in model.modules()]
    requires = [(p, p.requires_grad) for p in model.parameters()]
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
