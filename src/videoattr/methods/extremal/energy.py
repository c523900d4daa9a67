"""The energy of extremal perturbation: one mapping from a term's name to the term and its weights.

The energy of a mask at iteration ``t`` is the weighted reward plus every weighted mask term,
``reward_weight * reward + sum over names of weight_name[t] * term_name(mask)``. The mask terms of a call
come from [`MASK_TERMS`][videoattr.methods.extremal.energy.MASK_TERMS], which maps each name to a
factory: given the settings and the call's [`TermSetup`][videoattr.methods.extremal.energy.TermSetup]
it returns the term with its weight at every iteration
([`WeightedTerm`][videoattr.methods.extremal.objectives.WeightedTerm]), or ``None`` when the settings
leave the term out. Everything downstream follows that one mapping: the optimiser minimises the sum
over it, the history records each term and its weights under its name
([`PerturbationHistory.terms`][videoattr.methods.extremal.optimize.PerturbationHistory] and
``weights``), and early stopping watches the same sum.

Adding a term is one entry (a class following the
[`MaskTerm`][videoattr.methods.extremal.objectives.MaskTerm] protocol, and its factory):

    >>> import torch
    >>> from videoattr.methods.extremal.energy import MASK_TERMS
    >>> from videoattr.methods.extremal.objectives import WeightedTerm
    >>> class Centre:  # penalises mask mass away from the centre of each frame
    ...     name, num_values = "centre", 1
    ...     def __call__(self, padded, area_index, permutation=None, tie_break="sort"):
    ...         h, w = padded.shape[-2:]
    ...         y = torch.linspace(-1, 1, h, dtype=padded.dtype, device=padded.device)
    ...         x = torch.linspace(-1, 1, w, dtype=padded.dtype, device=padded.device)
    ...         far = y[:, None] ** 2 + x[None, :] ** 2
    ...         return (padded * far).mean(dim=(1, 2, 3))
    >>> MASK_TERMS["centre"] = lambda settings, setup: WeightedTerm(
    ...     Centre(), torch.full((settings.max_iter,), 10.0, dtype=torch.float64)
    ... )
    >>> del MASK_TERMS["centre"]  # (restore the built-in terms)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import torch

from videoattr.methods.extremal.objectives import AreaTerm, SmoothnessTerm, WeightedTerm
from videoattr.methods.extremal.settings import PerturbationSettings


@dataclass(frozen=True)
class TermSetup:
    """What a term's factory knows about a call.

    Attributes:
        areas: the ``A`` requested areas.
        num_frames: ``T``.
        padded_shape: ``(H', W')`` of the padded masks the terms see.
        device: where the masks live.
    """

    areas: Sequence[float]
    num_frames: int
    padded_shape: tuple[int, int]
    device: torch.device


#: Builds a term and its ``(max_iter,)`` float64 weights for a call, or ``None`` to leave it out.
TermFactory: TypeAlias = Callable[[PerturbationSettings, TermSetup], WeightedTerm | None]


def _area(settings: PerturbationSettings, setup: TermSetup) -> WeightedTerm:
    term = AreaTerm(
        setup.areas, setup.num_frames, setup.padded_shape, settings.area_mode, setup.device
    )
    return WeightedTerm(term, settings.term_weights()["area"])


def _smoothness(settings: PerturbationSettings, setup: TermSetup) -> WeightedTerm | None:
    if settings.smoothness_weight == 0:
        return None
    term = SmoothnessTerm(
        setup.areas,
        setup.num_frames,
        setup.padded_shape,
        settings.smoothness_kernel,
        settings.smoothness_stride,
        setup.device,
    )
    return WeightedTerm(term, settings.term_weights()["smoothness"])


MASK_TERMS: dict[str, TermFactory] = {"area": _area, "smoothness": _smoothness}
"""The mask terms of the energy, by name: a factory each, in the order the terms are evaluated (and,
for ``tie_break="random"``, draw their permutations). Add an entry to add a term."""


def build_terms(settings: PerturbationSettings, setup: TermSetup) -> dict[str, WeightedTerm]:
    """The mask terms of a call, by name (those whose factory returns ``None`` left out).

    Raises:
        ValueError: a term named ``"reward"`` (the reward's own record), or a weight schedule that is
            not ``(max_iter,)``.
    """
    terms: dict[str, WeightedTerm] = {}
    for name, factory in MASK_TERMS.items():
        weighted = factory(settings, setup)
        if weighted is None:
            continue
        if name == "reward":
            raise ValueError(
                'a mask term may not be named "reward": the reward is recorded under it'
            )
        if tuple(weighted.weights.shape) != (settings.max_iter,):
            raise ValueError(
                f"mask term {name!r} must have one weight per iteration, shape ({settings.max_iter},); "
                f"got shape {tuple(weighted.weights.shape)}"
            )
        terms[name] = weighted
    return terms
