"""Capturing a transformer's attention probabilities for one call, and where a model keeps them.

An [`AttentionLayout`][videoattr.core.attention.AttentionLayout] says which modules compute the
attention (its taps, in forward order), how each attention mixes the tokens of the residual stream (a
[`TokenMixing`][videoattr.core.mixing.TokenMixing]), which token's row the classifier reads, and how the
tokens entering the first block lie on the ``(T', H', W')`` grid. The zoo's adapters declare one for the
families they know (``VideoAdapter.attention_layout``); a model of one's own declares one with the
same attribute or passes it to the method.

[`capture_attention`][videoattr.core.attention.capture_attention] records, during the ``with`` block,
each tap's probabilities as the model computes them (in the autograd graph, so their gradients can be
taken): either an element of the tap module's output (Hugging Face attention modules return their
probabilities) or the result of the one softmax computed inside the tap module (caught with a
``TorchFunctionMode``: ``torch.softmax``, ``F.softmax``, ``Tensor.softmax``). Hugging Face models that
run ``sdpa`` or flash attention compute no probabilities: they are switched to ``eager`` attention for
the block and switched back afterwards (their config exactly as it was).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from videoattr.core.hooks import resolve_layer, unwrap_model
from videoattr.core.mixing import JointMixing, TokenMixing

__all__ = [
    "AttentionLayout",
    "AttentionTap",
    "TokenLayout",
    "capture_attention",
    "eager_attention",
    "model_attention_layout",
]

#: The token whose row the classifier reads (an index into the stream), or ``"mean"``: the mean of the
#: rows of every patch token (a classifier that mean-pools the tokens).
Read = int | Literal["mean"]


@runtime_checkable
class TokenLayout(Protocol):
    """The grid of a token sequence: the zoo's [`TokenGrid`][videoattr.zoo.TokenGrid] is one."""

    @property
    def prefix_tokens(self) -> int:
        """Class (or other) tokens before the patch tokens."""
        ...

    def to_volume(self, tokens: Tensor, size: tuple[int, int, int]) -> Tensor:
        """``(B, N, D)`` tokens of a ``(T, H, W)`` clip -> ``(B, D, T', H', W')`` (prefix dropped)."""
        ...


@dataclass(frozen=True)
class AttentionTap:
    """One attention of the model.

    Attributes:
        module: dotted name of the module that computes it (relative to the model given to the method).
        mixing: how its probabilities mix the stream's tokens. Default joint attention.
        output: index of the probabilities in the module's output tuple (Hugging Face attention
            modules: 1); ``None`` (default): the one softmax computed inside the module.
    """

    module: str
    mixing: TokenMixing = field(default_factory=JointMixing)
    output: int | None = None


@dataclass(frozen=True)
class AttentionLayout:
    """Where a transformer computes its attention and how its tokens map to the clip.

    Attributes:
        taps: the attentions in the order the forward computes them (one call each per forward).
        tokens: the grid of the tokens entering the first tap (the stream the maps are read on),
            prefix (class) tokens included; the zoo's [`TokenGrid`][videoattr.zoo.TokenGrid].
        read: the token whose row the classifier reads (default 0, the class token), or ``"mean"``
            for a classifier that mean-pools the patch tokens (VideoMAE's default).
        name: the architecture, for records and messages.
        unsupported: when set, the attention methods are not defined for this model: the reason and
            what to use instead (the methods refuse to be built with it).
    """

    taps: tuple[AttentionTap, ...]
    tokens: TokenLayout | None
    read: Read = 0
    name: str = "custom"
    unsupported: str | None = None

    def __post_init__(self) -> None:
        if self.unsupported is not None:
            return
        if not self.taps or not all(isinstance(t, AttentionTap) for t in self.taps):
            raise ValueError(f"taps must be a non-empty tuple of AttentionTap; got {self.taps!r}")
        if self.tokens is None or not isinstance(self.tokens, TokenLayout):
            raise TypeError(
                "tokens must describe the token grid (a videoattr.zoo.TokenGrid); got "
                f"{type(self.tokens).__name__}"
            )
        if self.read != "mean" and (isinstance(self.read, bool) or not isinstance(self.read, int)):
            raise ValueError(f"read must be a token index (int) or 'mean'; got {self.read!r}")


def model_attention_layout(model: nn.Module) -> AttentionLayout | None:
    """The layout a model declares as ``attention_layout`` (seen through compile/DDP wrappers)."""
    for candidate in (model, unwrap_model(model)):
        layout = getattr(candidate, "attention_layout", None)
        if isinstance(layout, AttentionLayout):
            return layout
    return None


def _hf_models(model: nn.Module) -> list[nn.Module]:
    """The outermost Hugging Face models in ``model`` (modules with ``set_attn_implementation``)."""
    found: list[nn.Module] = []
    names: list[str] = []
    for name, module in model.named_modules():
        is_hf = callable(getattr(module, "set_attn_implementation", None)) and hasattr(
            module, "config"
        )
        if is_hf and not any(name.startswith(f"{n}.") or n == "" for n in names):
            found.append(module)
            names.append(name)
    return found


@contextmanager
def eager_attention(model: nn.Module) -> Iterator[None]:
    """Run Hugging Face models inside ``model`` with ``eager`` attention during the block.

    ``sdpa`` and flash attention return no probabilities. Every config of every Hugging Face
    (sub)model gets its ``_attn_implementation`` back exactly as it was, also after an exception.
    Models without Hugging Face parts are untouched.
    """
    tops = _hf_models(model)
    saved: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    for module in model.modules():
        config = getattr(module, "config", None)
        if (
            config is not None
            and id(config) not in seen
            and hasattr(config, "_attn_implementation")
        ):
            seen.add(id(config))
            saved.append((config, vars(config).get("_attn_implementation_internal", _MISSING)))
    try:
        for top in tops:
            if getattr(top.config, "_attn_implementation", "eager") != "eager":
                switch: Callable[[str], None] = top.set_attn_implementation  # type: ignore[assignment]
                switch("eager")
        yield
    finally:
        for config, value in saved:
            if value is _MISSING:
                vars(config).pop("_attn_implementation_internal", None)
            else:
                config._attn_implementation_internal = value


_MISSING = object()
_SOFTMAX: frozenset[Any] = frozenset(
    {torch.softmax, torch.nn.functional.softmax, Tensor.softmax, torch.special.softmax}
)


class _SoftmaxRecorder(TorchFunctionMode):
    """Hands every softmax result computed while a tap module runs to ``sink``."""

    def __init__(self, sink: Callable[[Tensor], None], active: Callable[[], bool]) -> None:
        super().__init__()
        self.sink, self.active = sink, active

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        if func in _SOFTMAX and self.active() and isinstance(out, Tensor):
            self.sink(out)
        return out


@contextmanager
def capture_attention(
    model: nn.Module, layout: AttentionLayout, sink: Callable[[int, Tensor], None]
) -> Iterator[None]:
    """Call ``sink(i, probabilities)`` for tap ``i`` of ``layout`` as the forwards in the block compute it.

    ``probabilities`` is the tensor the model goes on with (in its graph): ``(B', heads, Nq, Nk)`` or
    ``(B', Nq, Nk)``. Hugging Face models run ``eager`` attention during the block (see
    [`eager_attention`][videoattr.core.attention.eager_attention]). Hooks and the function mode are
    removed when the block ends, also after an exception.

    Raises:
        ValueError: a tap names no module of ``model``.
        RuntimeError: a tap computed no probabilities, or more than one softmax, during a call.
    """
    modules = [resolve_layer(model, tap.module, "attention tap") for tap in layout.taps]
    current: list[int] = []
    found: list[int] = []

    def record(tensor: Tensor) -> None:
        i = current[-1]
        if found[i]:
            raise RuntimeError(
                f"attention tap {layout.taps[i].module!r} computed more than one softmax in one call; "
                "tap the module that computes exactly one attention"
            )
        found[i] += 1
        sink(i, tensor)

    def pre_hook(i: int) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any) -> None:
            current.append(i)
            while len(found) <= i:
                found.append(0)
            found[i] = 0

        return hook

    def post_hook(i: int) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            current.pop()
            tap = layout.taps[i]
            if tap.output is not None:
                value: Any = None
                got = type(output).__name__
                if isinstance(output, (tuple, list)):
                    value = output[tap.output] if len(output) > tap.output else None
                    got = type(value).__name__ if value is not None else f"{len(output)} outputs"
                if not isinstance(value, Tensor):
                    raise RuntimeError(
                        f"attention tap {tap.module!r} returned no probabilities at output index "
                        f"{tap.output} (got {got}); it may run sdpa or flash attention, or come from "
                        "transformers 4.x, which returns them only when asked (tested: 5.25.0)"
                    )
                record_output(i, value)
            elif not found[i]:
                raise RuntimeError(
                    f"attention tap {tap.module!r} computed no softmax: it may use "
                    "scaled_dot_product_attention; tap the module that computes softmax(QK^T)"
                )

        return hook

    def record_output(i: int, value: Tensor) -> None:
        current.append(i)
        try:
            record(value)
        finally:
            current.pop()

    with ExitStack() as stack:
        stack.enter_context(eager_attention(model))
        for i, module in enumerate(modules):
            stack.callback(module.register_forward_pre_hook(pre_hook(i)).remove)
            stack.callback(module.register_forward_hook(post_hook(i)).remove)
        if any(tap.output is None for tap in layout.taps):
            by_softmax = {i for i, tap in enumerate(layout.taps) if tap.output is None}
            stack.enter_context(
                _SoftmaxRecorder(record, lambda: bool(current) and current[-1] in by_softmax)
            )
        yield
