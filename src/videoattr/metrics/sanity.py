"""Sanity check by cascading parameter randomisation (Adebayo et al. 2018).

The layers of a copy of the model are re-initialised one after another, from the output towards the input,
and the attribution is recomputed after each step. A method that explains the model (rather than the
input alone) must change: the Spearman rank correlation between the original map and the map of the
randomised model should fall as more layers are randomised. The original model is never modified.

[`randomized_correlation`][videoattr.metrics.sanity.randomized_correlation] is the last step of the cascade alone (every layer re-initialised, one
attribution instead of one per layer), for methods too slow to run once per layer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from videoattr.core.hooks import resolve_layer
from videoattr.core.model_checks import check_logits
from videoattr.core.state import model_session
from videoattr.core.targets import Target, resolve_target
from videoattr.core.validation import describe
from videoattr.metrics._common import check_maps, validate_model_inputs

AttributionFn = Callable[[Tensor, Target], Tensor]
MethodFactory = Callable[[nn.Module], AttributionFn]

__all__ = [
    "CascadeResult",
    "cascading_randomization",
    "randomized_correlation",
    "rankdata",
    "spearman",
]


def rankdata(values: Tensor) -> Tensor:
    """Ranks ``0..N-1`` of each row of ``(B, N)`` values, tied values sharing their average rank."""
    if values.dim() != 2:
        raise ValueError(f"values must be a (B, N) tensor; got shape {tuple(values.shape)}")
    b, n = values.shape
    sorted_vals, order = torch.sort(values, dim=1, stable=True)
    starts = torch.ones_like(sorted_vals, dtype=torch.bool)
    starts[:, 1:] = sorted_vals[:, 1:] != sorted_vals[:, :-1]
    group = starts.long().cumsum(1) - 1
    positions = torch.arange(n, device=values.device, dtype=torch.float64).expand(b, n)
    group_sum = torch.zeros(b, n, device=values.device, dtype=torch.float64).scatter_add_(
        1, group, positions
    )
    group_cnt = torch.zeros(b, n, device=values.device, dtype=torch.float64).scatter_add_(
        1, group, torch.ones_like(positions)
    )
    rank_sorted = (group_sum / group_cnt.clamp_min(1)).gather(1, group)
    return torch.empty_like(rank_sorted).scatter_(1, order, rank_sorted)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of two batches of maps, per clip.

    Args:
        a: ``(B, ...)`` tensor.
        b: tensor of the same shape as ``a``.

    Returns:
        ``(B,)`` float32 correlations in ``[-1, 1]``; NaN where one of the two maps is constant.
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"a and b must be tensors; got {describe(a)} and {describe(b)}")
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(
            f"a and b must have the same shape (B, ...); got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    ra = rankdata(a.detach().flatten(1).double())
    rb = rankdata(b.detach().flatten(1).to(a.device).double())
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    denom = (ra.square().sum(1) * rb.square().sum(1)).sqrt()
    rho = (ra * rb).sum(1) / denom
    return torch.where(denom > 0, rho, torch.full_like(rho, float("nan"))).float()


@dataclass(frozen=True)
class CascadeResult:
    """Outcome of [`cascading_randomization`][videoattr.metrics.sanity.cascading_randomization].

    Attributes:
        layers: names of the layers, in the order they were randomised (output first).
        correlations: ``(L, B)`` Spearman correlation between the original map and the map after the
            first ``l + 1`` layers were randomised.
        maps: the ``L`` randomised maps, ``(B, 1|A, T, H, W)`` each, when ``keep_maps=True``; else empty.
    """

    layers: list[str]
    correlations: Tensor
    maps: list[Tensor]


def _default_layers(model: nn.Module) -> list[str]:
    """Every module that owns parameters, output first; the root (``""``) last when it owns some
    itself (a transformer's position embedding and class token)."""
    names = [
        name for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))
    ]
    return list(reversed(names))


def _reinitialise(module: nn.Module, generator_seed: int) -> None:
    """Draw the parameters ``module`` owns itself anew (its sub-modules' are left alone).

    A module without sub-modules is reset by its own ``reset_parameters`` when it has one; any
    other parameter is drawn from a normal distribution with its current standard deviation (0.02
    for a constant one, such as a class token initialised to zeros).
    """
    devices = sorted(
        {p.device.index or 0 for p in module.parameters(recurse=False) if p.device.type == "cuda"}
    )
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(generator_seed)
        reset = getattr(module, "reset_parameters", None)
        if callable(reset) and not any(True for _ in module.children()):
            reset()
            return
        for p in module.parameters(recurse=False):
            std = float(p.std()) if p.numel() > 1 else 0.0
            p.normal_(0.0, std if std > 0 else 0.02)


def cascading_randomization(
    model: nn.Module,
    method: MethodFactory,
    x: Tensor,
    target: Target = None,
    *,
    layers: Sequence[str] | None = None,
    absolute: bool = True,
    seed: int = 0,
    keep_maps: bool = False,
) -> CascadeResult:
    """Rank correlation of a method's maps before and after cascading randomisation of the layers.

    Args:
        model: the classifier; it is deep-copied and the copy is randomised.
        method: builds an attribution function for a model, e.g. ``lambda m: Saliency(m)`` or
            ``lambda m: GradCAM3D(m, layer="features.block4")``; called as ``fn(x, target)``.
        x: clips ``(B, C, T, H, W)``.
        target: any target form; ``None`` is resolved once to the top class of the *original* model, so
            every randomised model explains the same class.
        layers: dotted names of the layers to randomise, in order (``""``: the parameters the
            model owns itself); default every module that owns parameters, from the output back to
            the input, then the model's own (a transformer's position embedding and class token).
        absolute: compare ``|map|`` (default ``True``, the usual setting) rather than signed maps.
        seed: seed of the re-initialisation (layer ``l`` uses ``seed + l``). Default 0.
        keep_maps: also return the randomised maps.

    Returns:
        A [`CascadeResult`][videoattr.metrics.sanity.CascadeResult].
    """
    x = validate_model_inputs(model, x)
    if not callable(method):
        raise TypeError(
            f"method must be a callable model -> attribution function; got {describe(method)}"
        )
    resolved = resolve_target(target, x.shape[0], x.device)
    if resolved.fn is None and resolved.needs_logits:
        with model_session(model), torch.no_grad():
            fixed: Target = check_logits(model(x), x.shape[0]).argmax(1)
    else:
        fixed = target
    base = check_maps(method(model)(x, fixed), name="method output")
    randomised = copy.deepcopy(model)
    names = _default_layers(randomised) if layers is None else list(layers)
    if not names:
        raise ValueError("model has no layer with parameters to randomise")
    modules = [
        randomised if name == "" else resolve_layer(randomised, name, "layers") for name in names
    ]
    rows, kept = [], []
    ref = base.abs() if absolute else base
    for i, module in enumerate(modules):
        _reinitialise(module, seed + i)
        maps = check_maps(method(randomised)(x, fixed), name="method output")
        rows.append(spearman(ref, maps.abs() if absolute else maps))
        if keep_maps:
            kept.append(maps)
    return CascadeResult(layers=names, correlations=torch.stack(rows), maps=kept)


def randomized_correlation(
    model: nn.Module,
    method: MethodFactory,
    x: Tensor,
    target: Target = None,
    *,
    layers: Sequence[str] | None = None,
    absolute: bool = True,
    seed: int = 0,
    reference: Tensor | None = None,
) -> Tensor:
    """Rank correlation of a method's maps between the model and a copy with every layer re-initialised.

    The same numbers as the last row of [`cascading_randomization`][videoattr.metrics.sanity.cascading_randomization] with the same ``layers`` and
    ``seed`` (each layer is re-initialised from its own seed, so the order does not matter), at the cost
    of one attribution of the randomised model instead of one per layer. Lower is better: a method
    whose maps do not depend on the model scores 1.

    Args:
        model: the classifier; it is deep-copied and the copy is randomised.
        method: builds an attribution function for a model (see
            [`cascading_randomization`][videoattr.metrics.sanity.cascading_randomization]).
        x: clips ``(B, C, T, H, W)``.
        target: any target form; ``None`` is resolved once to the top class of the original model.
        layers: dotted names of the layers to randomise; default every module that owns parameters.
        absolute: compare ``|map|`` (default ``True``) rather than signed maps.
        seed: seed of the re-initialisation (the ``l``-th layer, output first, uses ``seed + l``).
            Default 0.
        reference: the method's maps ``(B, 1|A, T, H, W)`` for the original model when they are already
            at hand (they are not recomputed); default ``None`` computes them.

    Returns:
        ``(B,)`` float32 Spearman correlations; NaN where a map is constant.
    """
    x = validate_model_inputs(model, x)
    if not callable(method):
        raise TypeError(
            f"method must be a callable model -> attribution function; got {describe(method)}"
        )
    resolved = resolve_target(target, x.shape[0], x.device)
    if resolved.fn is None and resolved.needs_logits:
        with model_session(model), torch.no_grad():
            fixed: Target = check_logits(model(x), x.shape[0]).argmax(1)
    else:
        fixed = target
    if reference is None:
        base = check_maps(method(model)(x, fixed), name="method output")
    else:
        base = check_maps(reference, name="reference")
    randomised = copy.deepcopy(model)
    names = _default_layers(randomised) if layers is None else list(layers)
    if not names:
        raise ValueError("model has no layer with parameters to randomise")
    modules = [
        randomised if name == "" else resolve_layer(randomised, name, "layers") for name in names
    ]
    for i, module in enumerate(modules):
        _reinitialise(module, seed + i)
    maps = check_maps(method(randomised)(x, fixed), name="method output")
    if maps.shape != base.shape:
        raise ValueError(
            f"reference must have the shape of the method's maps {tuple(maps.shape)}; "
            f"got {tuple(base.shape)}"
        )
    if absolute:
        base, maps = base.abs(), maps.abs()
    return spearman(base.to(maps.device), maps)
