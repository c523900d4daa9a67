"""Checks of a model against the clips it is given and of what it returns.

Every attributor runs these before and after its forwards: the clip's dtype must be the model's
([`check_model_dtype`][videoattr.core.model_checks.check_model_dtype]), the output must be finite
``(N, K)`` logits ([`check_logits`][videoattr.core.model_checks.check_logits]), and a gradient
method's score must depend differentiably on the clip
([`require_grad_path`][videoattr.core.model_checks.require_grad_path]). Each error names the clip,
the argument or the model, what was expected and what was given.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from videoattr.core.validation import describe


def check_logits(
    out: object, batch_size: int, name: str = "model", *, clip_index: Tensor | None = None
) -> Tensor:
    """Check that a model output is a finite ``(N, K)`` floating-point logits tensor, ``N = batch_size``.

    Args:
        out: the model's output.
        batch_size: the number of rows ``N`` that went in.
        name: what produced ``out``, for error messages.
        clip_index: ``(N,)`` clip of each row (rows may be IG steps or noisy copies); ``None``: row ``i``
            is clip ``i``. Used to name the clip whose logits are not finite.

    Raises:
        TypeError: not a tensor, or not floating point.
        ValueError: wrong shape, or NaN/inf logits ("the model produced non-finite logits for clip i").
    """
    if not isinstance(out, Tensor):
        raise TypeError(
            f"{name} must return a (B, K) tensor of logits; got {describe(out)}. Wrap models that return "
            "tuples, dicts or ModelOutput objects (see videoattr.zoo.wrap)."
        )
    if out.dim() != 2 or out.shape[0] != batch_size:
        raise ValueError(
            f"{name} must return a (B, K) tensor of logits with B = {batch_size}; got shape {tuple(out.shape)}"
        )
    if not out.is_floating_point():
        raise TypeError(f"{name} must return floating-point logits; got dtype {out.dtype}")
    finite = torch.isfinite(out.detach()).all(dim=1)
    if not bool(finite.all()):
        raise ValueError(
            f"the {name} produced non-finite logits (NaN or inf) for clip "
            f"{listed_clips(finite, clip_index)}; check the model (and its weights) on this input"
        )
    return out


def check_model_dtype(model: nn.Module, x: Tensor, name: str = "x") -> None:
    """Raise ``TypeError`` when ``x``'s dtype differs from the model's floating-point parameters.

    Under ``torch.autocast`` the model's own dtype is what the clip must have (autocast converts inside).
    """
    for p in model.parameters():
        if p.is_floating_point():
            if p.dtype != x.dtype:
                raise TypeError(
                    f"{name} has dtype {x.dtype} but the model's parameters are {p.dtype}; convert the "
                    f"clip with {name}.to({p.dtype}) (or the model with model.to({x.dtype}))"
                )
            return


def require_grad_path(score: Tensor, name: str = "model") -> None:
    """Raise a clear error when the score cannot be differentiated with respect to the input."""
    if not score.requires_grad:
        raise RuntimeError(
            f"{name} output does not depend differentiably on the input clip (no autograd graph): the model "
            "may detach its input, use torch.no_grad(), or be non-differentiable (e.g. argmax)"
        )


def listed_clips(finite: Tensor, clip_index: Tensor | None) -> str:
    """The clips (at most 8) of the rows where ``finite`` ``(N,)`` is false, as ``"0, 3"``.

    Args:
        finite: ``(N,)`` bool, whether each row is finite.
        clip_index: ``(N,)`` clip of each row; ``None``: row ``i`` is clip ``i``.
    """
    rows = (~finite).nonzero().flatten()
    clips = rows if clip_index is None else clip_index.to(rows.device)[rows]
    ids = sorted({int(c) for c in clips.tolist()})
    return ", ".join(str(i) for i in ids[:8]) + (", ..." if len(ids) > 8 else "")
