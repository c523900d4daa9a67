"""One mechanism that turns every accepted ``target`` form into a per-sample score.

Accepted forms (see `Target`):

* ``None``: the model's top class for each clip (computed on the clean clip);
* ``int``: the same class for every clip;
* a sequence of ints or a ``(B,)`` integer tensor: one class per clip;
* a callable ``logits (N, K) -> scores (N,)`` for anything else (a margin, a verb head, ...). It is
  applied to every row the method evaluates, so it must score rows independently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor

from videoattr.core.validation import describe

ScoreFn = Callable[[Tensor], Tensor]
Target: TypeAlias = int | Sequence[int] | Tensor | ScoreFn | None


def check_logits(out: object, batch_size: int, name: str = "model") -> Tensor:
    """Check that a model output is a ``(N, K)`` floating-point logits tensor with ``N = batch_size``."""
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
    return out


@dataclass(frozen=True)
class ResolvedTarget:
    """A validated target for a batch of ``batch_size`` clips.

    Attributes:
        batch_size: number of clips ``B``.
        indices: ``(B,)`` long tensor of class indices, or ``None`` for a callable target or while the
            top class is still unknown (``top=True``).
        fn: the user's score function for callable targets.
        top: ``True`` when the target is "the model's top class" and [`with_logits`][videoattr.core.targets.ResolvedTarget.with_logits] resolves it.
    """

    batch_size: int
    indices: Tensor | None = None
    fn: ScoreFn | None = None
    top: bool = False

    @property
    def needs_logits(self) -> bool:
        """Whether the clean clip's logits are needed to know the target (``target=None``)."""
        return self.top and self.indices is None

    def with_logits(self, logits: Tensor) -> ResolvedTarget:
        """Resolve ``None`` to the top class and check class indices against ``K`` given clean logits.

        Args:
            logits: ``(B, K)`` logits of the clean clips.
        """
        logits = check_logits(logits, self.batch_size)
        if self.fn is not None:
            return self
        if self.indices is None:
            return ResolvedTarget(self.batch_size, logits.detach().argmax(dim=1), None, True)
        _check_range(self.indices, logits.shape[1])
        return ResolvedTarget(self.batch_size, self.indices.to(logits.device), None, self.top)

    def score(self, logits: Tensor, clip_index: Tensor | None = None) -> Tensor:
        """Score every row of ``logits``.

        Args:
            logits: ``(N, K)`` logits of N evaluated samples.
            clip_index: ``(N,)`` long tensor mapping each row to its clip in ``[0, B)``; ``None`` means
                row ``i`` is clip ``i`` (``N = B``).

        Returns:
            ``(N,)`` scores: the target logit, or the callable's output. While ``target=None`` is not yet
            resolved (see [`with_logits`][videoattr.core.targets.ResolvedTarget.with_logits]), each row is scored at its own top class, which is right
            when the rows are the clean clips themselves.
        """
        n = logits.shape[0]
        if self.fn is not None:
            out = self.fn(logits)
            if not isinstance(out, Tensor) or out.shape != (n,):
                raise ValueError(
                    f"target callable must map logits of shape {tuple(logits.shape)} to a ({n},) tensor "
                    f"of scores; got {describe(out)}"
                )
            return out
        if self.indices is None:
            idx = logits.detach().argmax(dim=1)
        else:
            idx = self.class_indices(clip_index, n).to(logits.device)
            _check_range(self.indices, logits.shape[1])
        return logits.gather(1, idx.unsqueeze(1)).squeeze(1)

    def class_indices(self, clip_index: Tensor | None, n: int) -> Tensor:
        """Class index of every row (``(N,)`` long); only for resolved index targets."""
        if self.indices is None:
            raise RuntimeError("target is not resolved to class indices; call with_logits() first")
        if clip_index is None:
            if n != self.batch_size:
                raise ValueError(
                    f"clip_index is required when scoring {n} rows for {self.batch_size} clips"
                )
            return self.indices
        return self.indices.to(clip_index.device)[clip_index]

    def log_prob(self, logits: Tensor, clip_index: Tensor | None = None) -> Tensor:
        """Log-softmax probability of the target class for every row (``(N,)``).

        For a callable target the callable's score is returned as is (it is treated as a log-score).
        """
        if self.fn is not None:
            return self.score(logits, clip_index)
        log_p = torch.log_softmax(logits, dim=1)
        return self.score(log_p, clip_index)


def _check_range(indices: Tensor, num_classes: int) -> None:
    bad = (indices < 0) | (indices >= num_classes)
    if bool(bad.any()):
        raise ValueError(
            f"target must hold class indices in [0, {num_classes - 1}] for a model with "
            f"{num_classes} classes; got {indices.tolist()}"
        )


def resolve_target(
    target: Target, batch_size: int, device: torch.device | str | None = None
) -> ResolvedTarget:
    """Validate ``target`` for ``batch_size`` clips and turn it into a [`ResolvedTarget`][videoattr.core.targets.ResolvedTarget].

    Example:
        >>> resolve_target([3, 1], batch_size=2).indices
        tensor([3, 1])
    """
    if target is None:
        return ResolvedTarget(batch_size, top=True)
    if callable(target) and not isinstance(target, Tensor):
        return ResolvedTarget(batch_size, fn=target)
    if isinstance(target, bool):
        raise TypeError(
            f"target must be None, an int, a sequence of ints, a tensor or a callable; got {target!r}"
        )
    if isinstance(target, int):
        return ResolvedTarget(
            batch_size, torch.full((batch_size,), target, dtype=torch.long, device=device)
        )
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise TypeError(
                f"target tensor must hold integer class indices; got dtype {target.dtype}"
            )
        flat = target.reshape(-1) if target.dim() == 0 else target
        if flat.dim() != 1 or flat.shape[0] not in (1, batch_size):
            raise ValueError(
                f"target tensor must have shape ({batch_size},) (one class per clip) or be a scalar; got "
                f"shape {tuple(target.shape)}"
            )
        return ResolvedTarget(batch_size, flat.long().to(device).expand(batch_size).clone())
    if isinstance(target, Sequence) and not isinstance(target, str):
        values = list(target)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise TypeError(f"target sequence must contain ints; got {values!r}"[:300])
        if len(values) != batch_size:
            raise ValueError(
                f"target sequence must have one class per clip (length {batch_size}); got length {len(values)}"
            )
        return ResolvedTarget(batch_size, torch.tensor(values, dtype=torch.long, device=device))
    raise TypeError(
        f"target must be None, an int, a sequence of ints, a (B,) tensor or a callable; got {describe(target)}"
    )
