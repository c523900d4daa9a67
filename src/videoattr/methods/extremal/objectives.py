"""The energy terms of extremal perturbation: reward, area term and STEP's smoothness term.

All terms are computed per mask (one row per clip x area) and minimised as a sum over rows:

* reward: ``-log p`` of the target on the preserved clip (``"preserve"``), ``-log(1 - p)`` on the clip
  perturbed with ``1 - m`` (``"delete"``), or both summed (``"dual"``);
* area term: mean squared distance between the sorted padded mask values and a reference of
  ``int(N (1 - a))`` zeros followed by ones, per frame and averaged over frames (2D-EP) or over the whole
  clip (3D-EP, STEP);
* smoothness term (STEP): the padded mask volume convolved with a binary ellipsoid kernel (normalised
  by its sum), responses sorted in descending order; with ``k = ceil(a T H' W' / V)``, the term is
  ``mean((top_k - 1)^2) + mean(rest^2)``. It is low for a few compact spatio-temporal blobs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from videoattr.core.targets import ResolvedTarget
from videoattr.methods.extremal.ranking import TieBreak, top_indicator

if TYPE_CHECKING:
    from videoattr.core.pyramid import Perturbation

Variant = Literal["preserve", "delete", "dual"]
VARIANTS: tuple[str, ...] = ("preserve", "delete", "dual")
AreaMode = Literal["frame", "clip"]
AREA_MODES: tuple[str, ...] = ("frame", "clip")

#: ``V = int(kt * kh * kw * ELLIPSOID_FILL)``: the ellipsoid's share of its bounding box (pi / 6).
ELLIPSOID_FILL = 0.5236


def rows_per_mask(variant: Variant) -> int:
    """Model rows evaluated per mask: 2 for ``"dual"`` (preserved and deleted clip), else 1."""
    return 2 if variant == "dual" else 1


def log1mexp(log_p: Tensor) -> Tensor:
    """``log(1 - exp(log_p))`` computed stably for ``log_p <= 0`` (values above are clamped to -1e-7)."""
    x = log_p.clamp(max=-1e-7)
    return torch.where(x > -math.log(2), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def log_prob_not_target(logits: Tensor, target: ResolvedTarget, clip_index: Tensor) -> Tensor:
    """``log(1 - p)`` of the target for every row: ``logsumexp`` of the other logits minus the total.

    For a callable target its score is taken as ``log p`` (as [`ResolvedTarget.log_prob`][videoattr.core.targets.ResolvedTarget.log_prob] does).
    """
    if target.indices is None:
        return log1mexp(target.log_prob(logits, clip_index))
    idx = target.class_indices(clip_index, logits.shape[0]).to(logits.device).unsqueeze(1)
    others = logits.scatter(1, idx, float("-inf"))
    return torch.logsumexp(others, dim=1) - torch.logsumexp(logits, dim=1)


def reward(
    logits: Tensor, target: ResolvedTarget, clip_index: Tensor, variant: Variant
) -> tuple[Tensor, Tensor]:
    """Unweighted reward (to be minimised) and target probability for ``n`` masks.

    Args:
        logits: ``(n, K)`` logits, or ``(2n, K)`` for ``"dual"`` (preserved rows first, deleted rows next).
        target: the resolved target.
        clip_index: ``(n,)`` clip of every mask.
        variant: ``"preserve"``, ``"delete"`` or ``"dual"``.

    Returns:
        ``(reward, probability)``, both ``(n,)``: the reward, and the target probability of the
        preserved clip (of the deleted clip for ``"delete"``), detached.
    """
    n = clip_index.shape[0]
    if variant == "preserve":
        log_p = target.log_prob(logits, clip_index)
        return -log_p, log_p.detach().exp()
    if variant == "delete":
        log_p = target.log_prob(logits, clip_index)
        return -log_prob_not_target(logits, target, clip_index), log_p.detach().exp()
    if variant == "dual":
        kept, deleted = logits[:n], logits[n:]
        log_p = target.log_prob(kept, clip_index)
        return -log_p - log_prob_not_target(deleted, target, clip_index), log_p.detach().exp()
    raise ValueError(f"variant must be one of {list(VARIANTS)}; got {variant!r}")


class VariantRule:
    """What a variant feeds the model and how it scores the result.

    Attributes:
        name: the variant's name.
        rows: model rows per mask (2 for ``"dual"``: the preserved and the deleted clip).
    """

    def __init__(self, name: Variant) -> None:
        if name not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}; got {name!r}")
        self.name: Variant = name
        self.rows = rows_per_mask(name)
        #: The clip whose target probability the history records: the deleted clip for ``"delete"``.
        self.scored = "deleted" if name == "delete" else "preserved"

    def inputs(self, perturbation: Perturbation, mask: Tensor, clip_index: Tensor) -> Tensor:
        """The model's rows for ``(n, T, H, W)`` masks: preserved, deleted, or both (preserved first)."""
        if self.name == "preserve":
            return perturbation.apply(mask, clip_index)
        if self.name == "delete":
            return perturbation.apply(1 - mask, clip_index)
        return torch.cat(
            [perturbation.apply(mask, clip_index), perturbation.apply(1 - mask, clip_index)]
        )

    def reward(
        self, logits: Tensor, target: ResolvedTarget, clip_index: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Unweighted reward ``(n,)`` and the target probability of every clip the model saw.

        Returns:
            ``(reward, probabilities)``: the reward (see [`reward`][videoattr.methods.extremal.objectives.reward])
            and, detached, ``(n,)`` per clip evaluated: ``{"preserved": p}``, ``{"deleted": p}``
            for ``"delete"``, both for ``"dual"``. ``scored`` names the one the history records.
        """
        r, prob = reward(logits, target, clip_index, self.name)
        seen = {self.scored: prob}
        if self.name == "dual":
            n = clip_index.shape[0]
            seen["deleted"] = target.log_prob(logits[n:].detach(), clip_index).exp()
        return r, seen


class MaskTerm(Protocol):
    """An energy term on the padded masks (area, smoothness, or a new one).

    A term is called with the ``(n, T, H', W')`` padded masks, the ``(n,)`` area index of every row, an
    optional permutation of its ``num_values`` ranked values (the order of equal values for
    ``tie_break="random"``) and the tie-break (see [`ranking`][videoattr.methods.extremal.ranking]); it
    returns the ``(n,)`` unweighted term. ``name`` names it (the history records it under its key in
    [`MASK_TERMS`][videoattr.methods.extremal.energy.MASK_TERMS], where a new term is added).
    """

    name: str

    @property
    def num_values(self) -> int:
        """How many values the term ranks (the size of a tie-breaking permutation)."""
        ...

    def __call__(
        self,
        padded: Tensor,
        area_index: Tensor,
        permutation: Tensor | None = None,
        tie_break: TieBreak = "sort",
    ) -> Tensor: ...


@dataclass(frozen=True)
class WeightedTerm:
    """A [`MaskTerm`][videoattr.methods.extremal.objectives.MaskTerm] with its weight at every iteration.

    Attributes:
        term: the term.
        weights: ``(max_iter,)`` float64 weight schedule.
    """

    term: MaskTerm
    weights: Tensor


def area_reference(size: int, area: float, device: torch.device | str | None = None) -> Tensor:
    """``(size,)`` reference of ``int(size * (1 - area))`` zeros followed by ones."""
    ref = torch.ones(size, device=device)
    ref[: int(size * (1 - area))] = 0
    return ref


class AreaTerm:
    """The area term for masks of ``areas`` (one reference per area); its history key is ``"area"``.

    Args:
        areas: the ``A`` target areas in ``(0, 1)``.
        num_frames: ``T``.
        padded_shape: ``(H', W')``, the padded mask size.
        mode: ``"frame"`` (2D-EP: every frame has area ``a``, the term is averaged over frames) or
            ``"clip"`` (3D-EP, STEP: area ``a`` of the whole clip).
        device: where the references live.
    """

    def __init__(
        self,
        areas: Sequence[float],
        num_frames: int,
        padded_shape: tuple[int, int],
        mode: AreaMode,
        device: torch.device | str | None = None,
    ) -> None:
        if mode not in AREA_MODES:
            raise ValueError(f"area mode must be one of {list(AREA_MODES)}; got {mode!r}")
        self.name = "area"
        self.mode: AreaMode = mode
        self.num_frames = num_frames
        frame = padded_shape[0] * padded_shape[1]
        self.size = frame if mode == "frame" else frame * num_frames
        self.reference = torch.stack([area_reference(self.size, a, device) for a in areas])
        #: ``(A,)`` the number of ones of each area's reference: the size of the top part.
        self.top_count = self.reference.sum(1).round().long()

    @property
    def num_values(self) -> int:
        """Values sorted per frame (2D-EP) or per clip (3D-EP, STEP)."""
        return self.size

    def __call__(
        self,
        padded: Tensor,
        area_index: Tensor,
        permutation: Tensor | None = None,
        tie_break: TieBreak = "sort",
    ) -> Tensor:
        """Unweighted area term ``(n,)`` of ``(n, T, H', W')`` padded masks, ``area_index`` ``(n,)``.

        The sorted form ``mean((sort(v) - reference)^2)`` is computed as ``mean((v - r)^2)``, ``r`` the
        indicator of the entries the sort would pair with the reference's ones
        ([`top_indicator`][videoattr.methods.extremal.ranking.top_indicator]): the same squares summed in
        another order, with the same gradient entry for entry, without sorting. ``permutation`` (of
        ``size`` entries) and ``tie_break`` choose how equal values are ordered.
        """
        n = padded.shape[0]
        frames = self.num_frames if self.mode == "frame" else 1
        values = padded.reshape(n * frames, self.size)
        count = self.top_count.to(values.device)[area_index].repeat_interleave(frames)
        top = top_indicator(
            values, count, descending=False, tie_break=tie_break, permutation=permutation
        ).to(values.dtype)
        squares = ((values - top) ** 2).view(n, frames, self.size)
        return squares.mean(dim=2).mean(dim=1)


def ellipsoid_kernel(size: tuple[int, int, int] = (7, 11, 11)) -> Tensor:
    """Binary ellipsoid ``(kt, kh, kw)``: the points of a grid spanning ``[-1, 1]^3`` within distance 1.

    Built with numpy's ``linspace`` in float64, as the reference does, so that points on the boundary are
    classified identically.
    """
    axes = [np.linspace(-1, 1, s) for s in size]
    grid = np.meshgrid(*axes, indexing="ij")
    dist = np.sqrt(sum(g**2 for g in grid))
    return torch.from_numpy(dist <= 1).float()


class SmoothnessTerm:
    """STEP's spatio-temporal smoothness term; its history key is ``"smoothness"``.

    Args:
        areas: the ``A`` target areas.
        num_frames: ``T`` (at least ``kernel_size[0]``).
        padded_shape: ``(H', W')`` of the padded masks (at least ``kernel_size[1:]``).
        kernel_size: ``(kt, kh, kw)`` of the binary ellipsoid. Default ``(7, 11, 11)``.
        stride: convolution stride; default ``(1, kh, kw)``.
        device: where the kernel lives.

    Attributes:
        volume: ``V = int(kt kh kw 0.5236)``.
        top_k: ``k = ceil(a T H' W' / V)`` per area (at most the number of responses).
    """

    def __init__(
        self,
        areas: Sequence[float],
        num_frames: int,
        padded_shape: tuple[int, int],
        kernel_size: tuple[int, int, int] = (7, 11, 11),
        stride: tuple[int, int, int] | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        kt, kh, kw = kernel_size
        if num_frames < kt or padded_shape[0] < kh or padded_shape[1] < kw:
            raise ValueError(
                f"the smoothness kernel {kernel_size} does not fit the padded mask volume "
                f"{(num_frames, *padded_shape)}"
            )
        self.name = "smoothness"
        self.stride = stride if stride is not None else (1, kh, kw)
        self.kernel = ellipsoid_kernel(kernel_size).to(device)
        self.kernel_sum = float(self.kernel.sum())
        self.volume = int(kt * kh * kw * ELLIPSOID_FILL)
        out = [
            (n - k) // s + 1
            for n, k, s in zip((num_frames, *padded_shape), kernel_size, self.stride, strict=True)
        ]
        self.num_responses = out[0] * out[1] * out[2]
        self.top_k = [
            min(
                math.ceil(a * num_frames * padded_shape[0] * padded_shape[1] / self.volume),
                self.num_responses,
            )
            for a in areas
        ]
        self._k = torch.tensor(self.top_k, device=device)

    @property
    def num_values(self) -> int:
        """Number of ellipsoid responses sorted."""
        return self.num_responses

    def responses(self, padded: Tensor) -> Tensor:
        """Normalised ellipsoid responses ``(n, R)`` of ``(n, T, H', W')`` padded masks."""
        n = padded.shape[0]
        # Full precision under autocast: the responses are sorted, and bfloat16 rounding (1/256 near 1)
        # would tie most of them and steer the masks elsewhere.
        with torch.autocast(device_type=padded.device.type, enabled=False):
            kernel = self.kernel.to(padded.dtype)[None, None]
            conv = F.conv3d(padded.unsqueeze(1), kernel, stride=self.stride)
        return conv.reshape(n, -1) / self.kernel_sum

    def __call__(
        self,
        padded: Tensor,
        area_index: Tensor,
        permutation: Tensor | None = None,
        tie_break: TieBreak = "sort",
    ) -> Tensor:
        """Unweighted smoothness term ``(n,)`` of ``(n, T, H', W')`` padded masks.

        The ``k`` largest responses (those a descending sort puts first, equal values ordered by
        ``tie_break`` and ``permutation``: see
        [`top_indicator`][videoattr.methods.extremal.ranking.top_indicator]) are compared with 1, the
        rest with 0.
        """
        values = self.responses(padded)
        k = self._k.to(values.device)[area_index]  # (n,)
        top = top_indicator(
            values, k, descending=True, tie_break=tie_break, permutation=permutation
        ).to(values.dtype)
        n_top = k.to(values.dtype)
        n_rest = (values.shape[1] - k).to(values.dtype)
        top_term = (top * (values - 1) ** 2).sum(dim=1) / n_top.clamp(min=1)
        rest_term = ((1 - top) * values**2).sum(dim=1) / n_rest.clamp(min=1)
        return top_term + rest_term
