"""What a method costs before it runs: how many forwards, and about how long they take.

[`method_cost`][videoattr.pipeline.cost.method_cost] counts the forwards one clip needs (with and
without a backward pass) from the method's settings and the clip's size;
[`time_forward`][videoattr.pipeline.cost.time_forward] measures one forward of the model;
[`Cost.seconds`][videoattr.pipeline.cost.Cost.seconds] multiplies them. A forward with a backward
pass to the input costs about three forwards (the backward of a network costs about twice its
forward); the CAM methods' backward stops at their layer and is counted as a forward. The command
line prints this estimate before any work; `benchmarks/method_costs.py` compares it with the time
measured.

Example:
    >>> import torch
    >>> from videoattr.methods import Occlusion
    >>> from videoattr.pipeline import as_method
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3))
    >>> cost = method_cost(as_method(Occlusion(net), net), (3, 16, 112, 112))
    >>> cost.forwards, cost.backwards  # the clip, the clean clip, 7 x 13 x 13 windows
    (1185, 0)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from videoattr.core.hooks import resolve_layer
from videoattr.pipeline.methods import Method

#: A forward with a backward pass to the input costs about this many forwards.
BACKWARD_FACTOR = 3.0


@dataclass(frozen=True)
class Cost:
    """Forwards of one clip through a method (explained for one target), and their memory bound.

    Attributes:
        forwards: clips through the model without a backward pass (the explained clip's own forward
            included).
        backwards: clips through the model with a backward pass to the input.
        max_batch_size: most clips in one forward (``None``: all of a call's in one).
        exact: ``False`` when the count is an upper bound (an early stop may end sooner) or unknown
            (a callable method: one forward assumed).
    """

    forwards: int
    backwards: int = 0
    max_batch_size: int | None = None
    exact: bool = True

    @property
    def total(self) -> int:
        """All forwards, with or without a backward pass."""
        return self.forwards + self.backwards

    def seconds(self, forward_s: float) -> float:
        """The expected time given the time of one forward of one clip (``forward_s`` seconds)."""
        return forward_s * (self.forwards + BACKWARD_FACTOR * self.backwards)

    def describe(self) -> str:
        """``"2 forwards + 25 with a backward pass"``-style words for the forwards."""
        words = f"{self.forwards} forward{'s' if self.forwards != 1 else ''}"
        if self.backwards:
            words += f" + {self.backwards} with a backward pass"
        return f"at most {words}" if not self.exact else words


def method_cost(
    method: Method,
    clip_shape: Sequence[int],
    *,
    channels: Sequence[int] | None = None,
) -> Cost:
    """The forwards one clip ``(C, T, H, W)`` needs through ``method``, for one target.

    Args:
        method: the method (see [`as_method`][videoattr.pipeline.as_method]).
        clip_shape: ``(C, T, H, W)`` of a clip.
        channels: the channels of each of Score-CAM's layers (see
            [`layer_channels`][videoattr.pipeline.cost.layer_channels]); needed for Score-CAM only.

    Returns:
        The [`Cost`][videoattr.pipeline.cost.Cost], counting the explained clip's own forward and,
        for the perturbation methods, the forward of each area's final clip that the last iteration
        did not score (the deleted clip; none for ``variant="dual"``, which scores both), and the warm
        start's gradient map (one backward per clip).
    """
    att = method.attributor
    config = method.config
    bound = att.max_batch_size if att is not None else None
    name = method.name
    if att is None:
        return Cost(1, 0, bound, exact=False)
    size = tuple(int(s) for s in clip_shape[1:])
    if method.is_perturbation:
        rows = 2 if config.get("variant") == "dual" else 1
        iterations = int(config.get("max_iter", 0) or 0)
        areas = max(1, len(method.areas))
        exact = config.get("early_stop") is None
        # the clip; per area the final clip the last iteration did not score (the pipeline takes
        # the preserved probabilities from the optimiser); a warm start's gradient map is one more
        # backward per clip
        warm = 1 if config.get("warm_start", "none") != "none" else 0
        final = 2 - rows
        return Cost(1 + final * areas, iterations * areas * rows + warm, bound, exact=exact)
    if name in ("saliency", "input_x_gradient"):
        return Cost(1, 1, bound)
    if name == "integrated_gradients":
        return Cost(1, int(config["steps"]), bound)
    if name == "smoothgrad":
        inner = config.get("attributor", {})
        per_copy = int(inner.get("steps", 1)) if isinstance(inner, dict) else 1
        return Cost(1, int(config["n"]) * per_copy, bound)
    if name in ("occlusion", "temporal_occlusion"):
        positions = int(att.num_positions(size))  # type: ignore[attr-defined]
        return Cost(2 + positions, 0, bound)
    if name == "rise":
        return Cost(2 + int(config["n"]), 0, bound)
    if name == "score_cam":
        if channels is None:
            raise ValueError("Score-CAM's cost needs the channels of its layers (channels=...)")
        return Cost(2 + sum(channels), 0, bound)
    if name == "attention_rollout":  # one forward without a gradient reads every attention
        return Cost(2, 0, bound)
    if name == "attention_relevance":  # one forward and one backward pass
        return Cost(1, 1, bound)
    if method.kind == "cam":  # one forward, a backward pass that stops at the layer
        return Cost(2, 0, bound)
    return Cost(1, 1, bound, exact=False)  # another gradient method: one backward assumed


def layer_channels(model: nn.Module, method: Method, x: Tensor) -> list[int]:
    """The channels ``D`` of each layer of a CAM method, from one forward of ``x`` (no gradient).

    Args:
        model: the classifier.
        method: a CAM method (its attributor has ``layers`` and ``reshape``).
        x: a clip ``(1, C, T, H, W)`` on the model's device.
    """
    att = method.attributor
    layers = getattr(att, "layers", ())
    reshape = getattr(att, "reshape", None)
    found: list[int] = []

    def record(_m: nn.Module, _i: object, out: Tensor) -> None:
        act = reshape(out) if reshape is not None else out
        found.append(int(act.shape[1]))

    handles = [resolve_layer(model, spec).register_forward_hook(record) for spec in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return found


def time_forward(model: nn.Module, x: Tensor, *, budget_s: float = 2.0) -> float:
    """Seconds of one forward of ``x`` (no gradient, the model in its own mode), synchronising a GPU.

    The first forward of a process also pays for one-time set-up (memory pools, kernel choice):
    while the forwards are quick (less than ``budget_s`` seconds so far, at most three of them)
    another is timed, and the quickest counts.
    """
    best = float("inf")
    spent = 0.0
    for _ in range(3):
        with torch.no_grad():
            start = time.perf_counter()
            model(x)
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
        if spent >= budget_s:
            break
    return best
