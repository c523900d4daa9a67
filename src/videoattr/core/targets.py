"""One mechanism that turns every accepted ``target`` form into a per-sample score.

Accepted forms (see `Target`):

* ``None``: the model's top class for each clip (computed on the clean clip);
* ``int``: the same class for every clip;
* a sequence of ints or a ``(B,)`` integer tensor: one class per clip;
* a callable ``logits (N, K) -> scores (N,)`` for anything else (a margin, a verb head, ...). It is
  applied to every row the method evaluates, so it must score rows independently.

Several targets per clip (`MultiTarget`): a ``(B, K)`` integer tensor of class indices, or a top-k
request ``"top3"`` / ``"topk:3"`` (the ``K`` classes the model scores highest on each clean clip, best
first). Methods then insert a target axis after the batch axis: ``(B, K, 1, T, H, W)`` gradient maps,
``(B, K, A, T, H, W)`` perturbation masks. [`expand_targets`][videoattr.core.targets.expand_targets] turns such a request into ``B * K`` rows
(each clip repeated once per target) that run through a method's ordinary batching, and
[`fold_targets`][videoattr.core.targets.fold_targets] folds the rows' result back to ``(B, K, ...)``.

A target asked for before the clips are seen (by [`run`][videoattr.runner.run], ``--target`` on the
command line, a whole video) is read once by [`parse_target`][videoattr.core.targets.parse_target]
into a [`TargetRequest`][videoattr.core.targets.TargetRequest]: a class index or name, a list of them
(the same classes for every clip), a top-k request, or nothing (each clip's label, else its top
class); [`TargetRequest.for_clips`][videoattr.core.targets.TargetRequest.for_clips] turns it into the
`Target` of a batch, and [`target_classes`][videoattr.core.targets.target_classes] says which
classes ``(B, K)`` any of them stands for given the clean logits
([`target_indices`][videoattr.core.targets.target_indices]: the same, shaped as a method's result
is). Every path (an attributor, the pipeline, a dataset run, a whole video, the command line)
chooses its classes through these.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, cast

import torch
from torch import Tensor

from videoattr.core.class_names import class_from_label
from videoattr.core.model_checks import check_logits, listed_clips
from videoattr.core.validation import describe

ScoreFn = Callable[[Tensor], Tensor]
Target: TypeAlias = int | Sequence[int] | Tensor | ScoreFn | str | None
#: Several targets per clip: a ``(B, K)`` integer tensor or a top-k request such as ``"top3"``.
MultiTarget: TypeAlias = Tensor | str

_TOPK = re.compile(r"^top(?:k:)?\s*(\d+)$")


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

        Raises:
            ValueError: a callable's output that is not ``(N,)``, or holds NaN or inf.
        """
        n = logits.shape[0]
        if self.fn is not None:
            out = self.fn(logits)
            if not isinstance(out, Tensor) or out.shape != (n,):
                raise ValueError(
                    f"target callable must map logits of shape {tuple(logits.shape)} to a ({n},) tensor "
                    f"of scores; got {describe(out)}"
                )
            finite = torch.isfinite(out.detach())
            if not bool(finite.all()):
                raise ValueError(
                    "target callable returned non-finite scores (NaN or inf) for clip "
                    f"{listed_clips(finite, clip_index)}; it must map finite logits to finite scores"
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


def parse_topk(request: str, name: str = "target") -> int:
    """The ``k`` of a top-k request ``"top3"`` / ``"topk:3"`` (case-insensitive).

    Raises:
        ValueError: the string is not a top-k request or ``k < 1``.
    """
    match = _TOPK.match(request.strip().lower())
    if match is None or int(match.group(1)) < 1:
        raise ValueError(
            f"{name} given as a string must be a top-k request such as 'top3' or 'topk:3' (k >= 1); got "
            f"{request!r}"
        )
    return int(match.group(1))


def is_multi_target(target: object) -> bool:
    """Whether ``target`` asks for several targets per clip (a 2-D tensor or a top-k string)."""
    return isinstance(target, str) or (isinstance(target, Tensor) and target.dim() == 2)


def expand_targets(
    x: Tensor, target: object, clean_logits: Callable[[Tensor], Tensor]
) -> tuple[Tensor, Tensor, int] | None:
    """Expand several targets per clip into rows; ``None`` when ``target`` is a single target per clip.

    Args:
        x: clips ``(B, C, T, H, W)``.
        target: a ``(B, K)`` integer tensor of class indices or a top-k request (``"top3"``,
            ``"topk:3"``); any other form returns ``None``.
        clean_logits: maps ``x`` to its ``(B, num_classes)`` logits; only called for a top-k request.

    Returns:
        ``(x_rows, indices, k)``: ``x_rows`` ``(B*K, C, T, H, W)`` with clip ``b``'s ``K`` copies at rows
        ``b*K .. b*K+K-1``, ``indices`` ``(B*K,)`` long class of each row (for top-k: best first), and
        ``K``. Attribute ``x_rows`` with ``target=indices`` and fold the result with
        [`fold_targets`][videoattr.core.targets.fold_targets].

    Raises:
        ValueError: a malformed request, a tensor whose first dimension is not ``B``, ``K = 0``, or
            ``k`` larger than the number of classes.
        TypeError: a 2-D tensor that does not hold integers.

    Example:
        >>> x = torch.zeros(2, 3, 4, 8, 8)
        >>> rows, idx, k = expand_targets(x, torch.tensor([[1, 2], [0, 3]]), lambda c: c)
        >>> rows.shape, idx.tolist(), k
        (torch.Size([4, 3, 4, 8, 8]), [1, 2, 0, 3], 2)
    """
    if not is_multi_target(target):
        return None
    b = x.shape[0]
    if isinstance(target, str):
        k = parse_topk(target)
        logits = check_logits(clean_logits(x), b)
        if k > logits.shape[1]:
            raise ValueError(
                f"target {target!r} asks for {k} classes but the model has {logits.shape[1]}"
            )
        indices = logits.detach().topk(k, dim=1).indices
    else:
        assert isinstance(target, Tensor)
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise TypeError(
                f"target tensor must hold integer class indices; got dtype {target.dtype}"
            )
        if target.shape[0] != b or target.shape[1] < 1:
            raise ValueError(
                f"a 2-D target tensor must have shape ({b}, K) with K >= 1 (K classes per clip); got "
                f"shape {tuple(target.shape)}"
            )
        indices = target.long()
        k = int(target.shape[1])
    return x.repeat_interleave(k, dim=0), indices.reshape(-1).to(x.device), k


def fold_targets(rows: Tensor, k: int) -> Tensor:
    """Fold a result over ``B*K`` rows (as made by [`expand_targets`][videoattr.core.targets.expand_targets]) to ``(B, K, ...)``.

    Example:
        >>> fold_targets(torch.zeros(6, 1, 4, 8, 8), 3).shape
        torch.Size([2, 3, 1, 4, 8, 8])
    """
    if rows.shape[0] % k:
        raise ValueError(f"cannot fold {rows.shape[0]} rows into groups of k = {k} targets")
    return rows.reshape(rows.shape[0] // k, k, *rows.shape[1:])


def resolve_target(
    target: Target, batch_size: int, device: torch.device | str | None = None
) -> ResolvedTarget:
    """Validate ``target`` for ``batch_size`` clips and turn it into a [`ResolvedTarget`][videoattr.core.targets.ResolvedTarget].

    Several targets per clip (a 2-D tensor, ``"top3"``) are not a single target: methods expand them with
    [`expand_targets`][videoattr.core.targets.expand_targets] first.

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
        if target.dim() == 2:
            raise ValueError(
                f"target tensor must have shape ({batch_size},) for one class per clip; a 2-D tensor (shape "
                f"{tuple(target.shape)}) asks for several targets per clip: expand it with "
                "videoattr.core.targets.expand_targets (every built-in method does)"
            )
        flat = target.reshape(-1) if target.dim() == 0 else target
        if flat.dim() != 1 or flat.shape[0] not in (1, batch_size):
            raise ValueError(
                f"target tensor must have shape ({batch_size},) (one class per clip) or be a scalar; got "
                f"shape {tuple(target.shape)}"
            )
        return ResolvedTarget(batch_size, flat.long().to(device).expand(batch_size).clone())
    if isinstance(target, str):
        parse_topk(target)
        raise ValueError(
            f"target {target!r} asks for several targets per clip; expand it with "
            "videoattr.core.targets.expand_targets (every built-in method does)"
        )
    if isinstance(target, Sequence):
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


def target_classes(target: Target | Sequence[int | None], logits: Tensor) -> Tensor:
    """The classes ``(B, K)`` (long) that a target stands for, given the clean logits ``(B, classes)``.

    ``None`` is each clip's top class; an int, one class per clip (a sequence or a ``(B,)`` tensor),
    ``K = 1``; a ``(B, K)`` tensor as it is; a top-k request the ``k`` best classes of each clip, best
    first. A sequence may hold ``None`` for the clips whose class is their top class.

    Raises:
        TypeError: a callable target (it scores logits; it stands for no class).
        ValueError: a malformed target, or classes outside the model's (named as ``target``).

    Example:
        >>> target_classes("top2", torch.tensor([[0.1, 0.5, 0.2], [0.9, 0.0, 0.3]])).tolist()
        [[1, 2], [0, 2]]
    """
    logits = check_logits(logits, logits.shape[0] if isinstance(logits, Tensor) else 0)
    b = logits.shape[0]
    if isinstance(target, Sequence) and not isinstance(target, str) and None in list(target):
        top = logits.detach().argmax(dim=1)
        values = list(target)
        if len(values) != b:
            raise ValueError(
                f"target sequence must have one class per clip (length {b}); got length {len(values)}"
            )
        target = [int(top[i]) if v is None else v for i, v in enumerate(values)]
    if callable(target) and not isinstance(target, Tensor):
        raise TypeError("a callable target scores logits and stands for no class")
    return _classes(cast(Target, target), logits)


def _classes(target: Target, logits: Tensor) -> Tensor:
    b = logits.shape[0]
    multi = expand_targets(logits.new_zeros(b, 1, 1, 1, 1), target, lambda _x: logits)
    if multi is not None:
        _, rows, k = multi
        indices = rows.view(b, k)
        _check_range(indices, logits.shape[1])
        return indices
    resolved = resolve_target(target, b, logits.device).with_logits(logits)
    assert resolved.indices is not None
    return resolved.indices.view(b, 1)


def target_indices(target: Target, logits: Tensor) -> Tensor | None:
    """The classes a target stands for, shaped as a method's result (``None`` for a callable).

    The classes are those of [`target_classes`][videoattr.core.targets.target_classes], which
    every method explains (an [`Explanation`][videoattr.core.base.Explanation] reports them).

    Args:
        target: any accepted form.
        logits: ``(B, num_classes)`` logits of the clean clips.

    Returns:
        ``(B,)`` long for one target per clip, ``(B, K)`` for several (a 2-D tensor, a top-k
        request), ``None`` for a callable target (it scores logits; it stands for no class).

    Example:
        >>> logits = torch.tensor([[0.1, 0.5, 0.2], [0.9, 0.0, 0.3]])
        >>> target_indices(None, logits).tolist(), target_indices("top2", logits).tolist()
        ([1, 0], [[1, 2], [0, 2]])
    """
    if callable(target) and not isinstance(target, Tensor):
        return None
    classes = target_classes(target, logits)
    return classes if is_multi_target(target) else classes[:, 0]


@dataclass(frozen=True)
class TargetRequest:
    """A target asked for before the clips are seen (see [`parse_target`][videoattr.core.targets.parse_target]).

    Attributes:
        classes: the classes explained for every clip (one or several), or ``()``.
        top: ``k`` of a top-k request, else ``0``.

    With neither, each clip is explained for its label's class, else its top class.
    """

    classes: tuple[int, ...] = ()
    top: int = 0

    @property
    def several(self) -> bool:
        """Whether each clip is explained for more than one class."""
        return len(self.classes) > 1 or self.top > 1

    @property
    def uses_labels(self) -> bool:
        """Whether each clip's own label chooses its class (no class and no top-k asked for)."""
        return not self.classes and not self.top

    def for_clips(self, labels: Sequence[int | None]) -> Target | list[int | None]:
        """The target of a batch of clips whose labels are ``labels`` (a class, or ``None``).

        Returns:
            ``"topK"``, a ``(B, K)`` tensor of the listed classes, one class, or (for a request
            that uses labels) the labels, ``None`` standing for the clip's top class (see
            [`target_classes`][videoattr.core.targets.target_classes]).

        Example:
            >>> TargetRequest(classes=(2, 0)).for_clips([None, 1])
            tensor([[2, 0],
                    [2, 0]])
        """
        if self.top:
            return f"top{self.top}"
        if len(self.classes) == 1:
            return self.classes[0]
        if self.classes:
            return torch.tensor([list(self.classes)] * len(labels), dtype=torch.long)
        return list(labels)


def parse_target(
    target: object, class_names: Sequence[str] | None = None, *, name: str = "target"
) -> TargetRequest:
    """Read a target given for clips not yet seen (a run, ``--target``, a whole video).

    Accepted: ``None`` (each clip's label, else its top class); a class index or name (see
    [`class_from_label`][videoattr.core.class_names.class_from_label]); a top-k request ``"top3"`` /
    ``"topk:3"``; a list of classes (or text ``"2,walking"``) explained for every clip (repeats
    dropped); a 1-D integer tensor of classes. A class name that starts with ``top`` is a class.

    Raises:
        ValueError: a part that is no class, an empty list, ``top0``, or ``k`` larger than the
            number of classes (when ``class_names`` are known).
        TypeError: anything else.

    Example:
        >>> parse_target("left, 0", ["right", "down", "left"])
        TargetRequest(classes=(2, 0), top=0)
    """
    if target is None:
        return TargetRequest()
    if isinstance(target, str):
        text = target.strip()
        if (
            _TOPK.match(text.lower()) is not None
            and class_from_label(text, class_names, strict=False) is None
        ):
            k = parse_topk(text, name=name)
            if class_names is not None and k > len(class_names):
                raise ValueError(
                    f"{name} {target!r} asks for {k} classes but the model has {len(class_names)}"
                )
            return TargetRequest(top=k)
        is_class = class_from_label(text, class_names, strict=False) is not None
        pieces = [text] if is_class or "," not in text else text.split(",")
        parts: list[object] = [p.strip() for p in pieces if p.strip()]
        if not parts:
            raise ValueError(f"{name} {target!r} names no class")
    elif isinstance(target, Tensor):
        if target.is_floating_point() or target.dim() > 1 or target.dtype == torch.bool:
            raise TypeError(
                f"{name} tensor must be a 1-D tensor of class indices; got {describe(target)}"
            )
        parts = [int(v) for v in target.reshape(-1).tolist()]
    elif isinstance(target, int) and not isinstance(target, bool):
        parts = [target]
    elif isinstance(target, Sequence):
        parts = list(target)
        if not parts:
            raise ValueError(f"{name} must name at least one class; got an empty list")
    else:
        raise TypeError(
            f"{name} must be None, a class index or name, a list of them or a top-k request such "
            f"as 'top3'; got {describe(target)}"
        )
    found = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (int, str)):
            raise TypeError(f"{name} must list class indices or names; got {describe(part)}")
        index = class_from_label(part, class_names, name=name)
        assert index is not None  # strict lookups return an index or raise
        found.append(index)
    return TargetRequest(classes=tuple(dict.fromkeys(found)))
