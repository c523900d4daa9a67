"""What the forward-only (black-box) methods share: baselines, target scores and masked forwards.

[`Occlusion`][videoattr.methods.occlusion.Occlusion] and [`RISE`][videoattr.methods.rise.RISE] both
evaluate the model on many copies of each clip in which some voxels are replaced by a baseline, and
weigh the scores of those copies. This module holds the parts they have in common: the baseline (a
constant, a tensor, or the blurred clip of the extremal methods' perturbation pyramid), the scores of
one or several targets per clip on every evaluated row, and the loop that runs ``(mask, clip)`` rows
through the model in forwards of at most ``max_batch_size`` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor

from videoattr.core.base import Attributor
from videoattr.core.batching import scored_chunks
from videoattr.core.progress import progress_bar
from videoattr.core.targets import (
    ResolvedTarget,
    Target,
    is_multi_target,
    resolve_target,
    target_classes,
)
from videoattr.core.validation import check_finite_float, check_finite_tensor, describe

#: A baseline: ``"blur"``, a constant (in the normalised clip's units) or a tensor broadcastable to the clip.
Baseline: TypeAlias = str | float | Tensor


def check_baseline(baseline: object, name: str = "baseline") -> Baseline:
    """Validate a baseline given to a constructor (its shape is checked against the clip at call time).

    Raises:
        TypeError: not ``"blur"``, a real number or a floating-point tensor.
        ValueError: another string, or a non-finite value.
    """
    if isinstance(baseline, str):
        if baseline != "blur":
            raise ValueError(
                f'{name} must be "blur", a float or a tensor broadcastable to the clip; got {baseline!r}'
            )
        return baseline
    if isinstance(baseline, Tensor):
        if not baseline.is_floating_point():
            raise TypeError(
                f"{name} must be a floating-point tensor broadcastable to the clip (B, C, T, H, W); got "
                f"{describe(baseline)}"
            )
        return check_finite_tensor(baseline.detach(), name)
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
        raise TypeError(
            f'{name} must be "blur", a float or a tensor broadcastable to the clip; got {describe(baseline)}'
        )
    return check_finite_float(baseline, name)


def baseline_for(x: Tensor, baseline: Baseline, max_blur: float, name: str = "baseline") -> Tensor:
    """The baseline of clips ``x`` ``(B, C, T, H, W)`` as a tensor broadcastable to ``x``.

    Args:
        x: the clips.
        baseline: as validated by `check_baseline`. ``"blur"`` is the most blurred level of the extremal
            methods' perturbation pyramid ([`Perturbation`][videoattr.core.pyramid.Perturbation]):
            every frame blurred by a Gaussian of std ``max_blur`` pixels.
        max_blur: the blur's std in pixels (only for ``"blur"``).
        name: the argument's name in errors.

    Raises:
        ValueError: a tensor that does not broadcast to ``x``'s shape.
    """
    if isinstance(baseline, str):
        from videoattr.core.pyramid import (
            Perturbation,
        )  # lazy: extremal registers later

        with torch.no_grad():
            pyramid = Perturbation(x.detach(), num_levels=2, max_blur=max_blur).pyramid
        return pyramid[..., 0]
    if isinstance(baseline, Tensor):
        fits = baseline.dim() <= 5 and all(
            s in (1, d) for s, d in zip(reversed(baseline.shape), reversed(x.shape), strict=False)
        )
        if not fits:
            raise ValueError(
                f"{name} must be broadcastable to the clip's shape {tuple(x.shape)} (B, C, T, H, W); got "
                f"shape {tuple(baseline.shape)}"
            )
        shaped = baseline.reshape((1,) * (5 - baseline.dim()) + tuple(baseline.shape))
        return shaped.to(x.device, x.dtype)
    return torch.full((1, 1, 1, 1, 1), float(baseline), device=x.device, dtype=x.dtype)


@dataclass(frozen=True)
class Scorer:
    """The score of one or several targets per clip on every evaluated row.

    Attributes:
        target: a single resolved target per clip (indices or a callable), or ``None``.
        indices: ``(B, K)`` class indices for several targets per clip, or ``None``.
        softmax: score the softmax of the logits instead of the logits (a callable target then receives
            probabilities).
    """

    target: ResolvedTarget | None
    indices: Tensor | None
    softmax: bool = False

    @property
    def k(self) -> int:
        """Number of targets per clip."""
        return 1 if self.indices is None else int(self.indices.shape[1])

    def __call__(self, logits: Tensor, clip_index: Tensor) -> Tensor:
        """Scores ``(N, K)`` of rows with logits ``(N, num_classes)`` belonging to clips ``clip_index``."""
        if self.softmax:  # in at least float32 whatever autocast chose
            out = torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=1)
        else:
            out = logits
        if self.indices is not None:
            return out.gather(1, self.indices.to(out.device)[clip_index])
        assert self.target is not None
        return self.target.score(out, clip_index).unsqueeze(1)


def make_scorer(
    attributor: Attributor, x: Tensor, target: Target, logits: Tensor, *, softmax: bool = False
) -> Scorer:
    """Resolve ``target`` for clips ``x`` given their clean ``logits`` ``(B, num_classes)``.

    Single targets (``None``, an int, one per clip, a callable) give one score per row; several targets
    per clip (a ``(B, K)`` tensor, ``"top3"``) give ``K``, all from the same forwards. The classes are
    those of [`target_classes`][videoattr.core.targets.target_classes], as for every method.

    Raises:
        ValueError, TypeError: a malformed target or class indices out of range (named as ``target``).
    """
    if is_multi_target(target):
        return Scorer(None, target_classes(target, logits).to(x.device), softmax)
    resolved = resolve_target(target, x.shape[0], x.device).with_logits(logits)
    return Scorer(resolved, None, softmax)


def masked_rows(
    attributor: Attributor,
    x: Tensor,
    base: Tensor,
    scorer: Scorer,
    n: int,
    keep: Callable[[int, int], Tensor],
    *,
    progress: bool,
    description: str,
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """Run every ``(mask, clip)`` pair through the model in forwards of at most ``max_batch_size`` rows.

    Rows are mask-major: row ``r`` is mask ``r // B`` applied to clip ``r % B``, and the perturbed clip is
    ``x * m + base * (1 - m)`` (``m = 1`` keeps a voxel, ``m = 0`` puts the baseline there). Call inside
    the attributor's session, under ``torch.no_grad()``.

    Args:
        attributor: gives ``max_batch_size`` and the checked forward.
        x: clips ``(B, C, T, H, W)``.
        base: the baseline, broadcastable to ``x``.
        scorer: scores the rows' logits.
        n: number of masks.
        keep: ``keep(start, stop)`` returns masks ``start .. stop-1`` as ``(stop - start, 1, T, H, W)``
            (or any shape broadcastable to one clip per mask) on ``x``'s device.
        progress: show a bar counting the forwards (one per row, see
            [`progress_bar`][videoattr.core.progress.progress_bar]).
        description: the bar's label.

    Yields:
        ``(mask_index, clip_index, scores, masks)`` per forward: ``(N,)`` long tensors, ``(N, K)`` scores
        in ``x``'s dtype, and the masks ``(M, 1, T, H, W)`` of the masks ``mask_index.min() ..`` used by
        these rows (row ``i`` used ``masks[mask_index[i] - mask_index[0]]``).
    """
    b = x.shape[0]
    used: list[Tensor] = []  # the masks of the chunk being scored

    def perturbed(chunk: slice) -> tuple[Tensor, Tensor]:
        rows = torch.arange(chunk.start, chunk.stop, device=x.device)
        mask_index, clip_index = rows // b, rows % b
        first, last = chunk.start // b, (chunk.stop - 1) // b
        masks = keep(first, last + 1).to(x.dtype)
        used[:] = [masks]
        m = masks[mask_index - first]
        bb = base if base.shape[0] == 1 else base.expand_as(x)[clip_index]
        return x[clip_index] * m + bb * (1 - m), clip_index

    with progress_bar(n * b, description, enabled=progress) as bar:
        for chunk, scores in scored_chunks(
            n * b, perturbed, attributor.forward, scorer, attributor.max_batch_size
        ):
            rows = torch.arange(chunk.start, chunk.stop, device=x.device)
            yield rows // b, rows % b, scores.to(x.dtype), used[0]
            bar.update(chunk.stop - chunk.start)
