"""The [`Attributor`][videoattr.core.base.Attributor] base class (one call shape for every method) and its [`Explanation`][videoattr.core.base.Explanation]."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import inspect
import re
from abc import ABC
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast

import torch
from torch import Tensor, nn

from videoattr._version import __version__
from videoattr.core.batching import chunk_slices
from videoattr.core.config import to_jsonable
from videoattr.core.errors import Names, OptionError
from videoattr.core.model_checks import check_logits, check_model_dtype
from videoattr.core.state import model_session
from videoattr.core.targets import (
    ResolvedTarget,
    Target,
    expand_targets,
    resolve_target,
    target_indices,
)
from videoattr.core.validation import check_clip, check_optional_batch_size, describe


def _short(t: Tensor | None, limit: int = 4) -> str:
    """A few values of a tensor for a repr (``[0.12, 0.5, ...]``), never the whole tensor."""
    if t is None:
        return "None"
    flat = t.detach().flatten()
    values = flat[:limit].tolist()
    text = ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in values)
    return f"[{text}{', ...' if flat.numel() > limit else ''}]"


@dataclass(frozen=True, repr=False)
class Explanation:
    """What one [`Attributor.explain`][videoattr.core.base.Attributor.explain] call computed.

    Attributes:
        maps: the attribution, as `Attributor.attribute` returns it: ``(B, 1, T, H, W)`` maps,
            ``(B, A, T, H, W)`` perturbation masks, with a target axis after the batch axis for several
            targets per clip (``(B, K, 1, T, H, W)``).
        target: ``(B,)`` (or ``(B, K)``) long tensor of the explained class indices; ``None`` for a callable
            target.
        probabilities: ``(B, num_classes)`` softmax of the clean clips' logits.
        prediction: ``(B,)`` the clean clips' top class.
        target_probability: ``(B,)`` (or ``(B, K)``) probability of the explained class on the clean clip;
            NaN for a callable target.
        method: the method's canonical registered name (e.g. ``"integrated_gradients"``).
        config: the attributor's [`Attributor.config`][videoattr.core.base.Attributor.config] record.
        extras: method-specific results (perturbation methods: ``preserved_probability``,
            ``deleted_probability``, ``areas``, ``history``).
    """

    maps: Tensor
    target: Tensor | None
    probabilities: Tensor
    prediction: Tensor
    target_probability: Tensor
    method: str
    config: Mapping[str, Any]
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        m = self.maps
        value_range = f"[{float(m.min()):.3g}, {float(m.max()):.3g}]" if m.numel() else "[]"
        extras = f", extras={sorted(self.extras)}" if self.extras else ""
        return (
            f"Explanation(method={self.method!r}, maps={tuple(m.shape)} {str(m.dtype).replace('torch.', '')} "
            f"in {value_range}, target={_short(self.target)}, prediction={_short(self.prediction)}, "
            f"target_probability={_short(self.target_probability)}{extras})"
        )


_Method = TypeVar("_Method", bound=Callable[..., Any])


def check_option_names(attributor: Attributor, given: Mapping[str, Any]) -> None:
    """Raise an [`OptionError`][videoattr.core.errors.OptionError] (a ``TypeError``) naming every
    key of ``given`` that is not an option of ``attributor``.

    The message lists the attributor's options (and close matches of a misspelt name).
    """
    names = attributor.option_names()
    unknown = [k for k in given if k not in names]
    if not unknown:
        return
    close = sorted({m for k in unknown for m in difflib.get_close_matches(k, names, n=2)})
    hint: tuple[str | Names, ...] = (" (did you mean ", Names(tuple(close), listed=False), "?)")
    calls = attributor.call_arguments()
    also: tuple[str | Names, ...] = ("; the call also takes ", Names(tuple(sorted(calls))))
    raise OptionError(
        f"{type(attributor).__name__} has no option ", Names(tuple(unknown), listed=False),
        *(hint if close else ()), "; its options are ", Names(tuple(sorted(names))),
        *(also if calls else ()), method=attributor.method, names=unknown, known=sorted(names),
    )  # fmt: skip


def _declared_keywords(fn: Callable[..., Any]) -> tuple[str, ...]:
    """The parameters of ``fn`` that a keyword can fill, without ``self``, ``x`` and ``**kwargs``."""
    fn = inspect.unwrap(fn)
    return tuple(
        name
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in ("self", "x")
    )


def _per_call_options(fn: _Method) -> _Method:
    """Wrap a method so that keywords naming options run it on a copy with those options.

    Keywords the method declares itself, and for ``explain`` those ``attribute`` declares, are passed
    through; every other keyword is an option, given to [`Attributor.replace`][videoattr.core.base.Attributor.replace].
    """
    own = _declared_keywords(fn)
    forwards = fn.__name__ == "explain"  # explain passes attribute's own keywords on

    @functools.wraps(fn)
    def method(self: Attributor, *args: Any, **kwargs: Any) -> Any:
        passed = set(own) | (set(self.call_arguments()) if forwards else set())
        options = {k: kwargs.pop(k) for k in list(kwargs) if k not in passed}
        if options:
            self = self.replace(**options)
        return fn(self, *args, **kwargs)

    method._takes_per_call_options = True  # type: ignore[attr-defined]
    return cast(_Method, method)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class Attributor(ABC):
    """Base class of every attribution method.

    An attributor is built with a model (mapping ``(B, C, T, H, W)`` clips to ``(B, K)`` logits) and all
    its options, then called as ``attribute(x, target=None, **overrides)``. It returns a tensor on ``x``'s device without a graph:
    ``(B, 1, T, H, W)`` maps for gradient/activation methods, ``(B, A, T, H, W)`` masks for perturbation
    methods; with several targets per clip (a ``(B, K)`` tensor or ``"top3"``) a target axis follows the
    batch axis. Calling it leaves the model as it was (hooks, ``requires_grad`` and ``training`` flags,
    buffers), also when an exception is raised. Calls on one model from several threads run one at a time.

    Per-call options, one rule for every method: any constructor option can be given to
    ``attribute`` and ``explain`` by keyword, for that call only. ``Saliency(model).attribute(x, 0,
    polarity="positive")`` equals ``Saliency(model, polarity="positive").attribute(x, 0)``, and
    ``STEP(model).attribute(x, 0, lr=0.1, areas=[0.05, 0.1])`` runs STEP with that learning rate and
    those areas. The options are validated by the constructor itself (a wrong value raises what the
    constructor raises; a name that is no option raises a ``TypeError`` listing the options), and the
    attributor is left unchanged: the next call uses the constructor's options again. The keywords a
    method's ``attribute`` declares itself (SmoothGrad's ``keys``, RISE's ``masks``, Integrated
    Gradients' ``return_gap``) are arguments of the call, not options.

    ``None`` is never "not set": an option left out takes its default, and ``None`` means what the
    option documents (``max_batch_size=None``: no bound on the rows of one forward, for every method;
    ``early_stop=None``: no early stopping).

    Subclasses define ``attribute`` (its body never sees an override: the base class applies them to
    a copy first, for ``attribute``, ``explain`` and the methods listed in ``per_call_methods``);
    [`config`][videoattr.core.base.Attributor.config], [`explain`][videoattr.core.base.Attributor.explain] and [`replace`][videoattr.core.base.Attributor.replace] have default
    implementations that read the constructor's signature (override [`options`][videoattr.core.base.Attributor.options] when an option is
    not stored under its own name).

    Args:
        model: the video classifier.
        max_batch_size: the most samples (IG steps, noise draws, masks) in one forward; ``None``: no
            bound (all of them in one forward).
        eval_mode: put the model in eval mode during the call (restored after). Default ``True``. With
            ``False`` a model in train mode updates its BatchNorm statistics during the forwards; they
            are put back afterwards.
    """

    #: The method's canonical registered name (see [`videoattr.methods.registry`][videoattr.methods.registry]).
    method_name: ClassVar[str | None] = None
    #: The methods that take per-call options (each subclass's own definitions of them are wrapped).
    per_call_methods: ClassVar[tuple[str, ...]] = ("attribute", "explain")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.per_call_methods:
            fn = cls.__dict__.get(name)
            if callable(fn) and not getattr(fn, "_takes_per_call_options", False):
                setattr(cls, name, _per_call_options(fn))

    def __init__(
        self, model: nn.Module, *, max_batch_size: int | None = None, eval_mode: bool = True
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}")
        self.model = model
        self.max_batch_size = check_optional_batch_size(max_batch_size)
        self.eval_mode = bool(eval_mode)

    #: ``attribute(x, target=None, **overrides)``: every subclass defines it (overrides are applied
    #: before its body runs, see the class docstring).
    attribute: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Same as `attribute`."""
        return self.attribute(*args, **kwargs)

    def __repr__(self) -> str:
        shown = [f"max_batch_size={self.max_batch_size!r}"]
        try:
            options = self.options()
        except TypeError:  # options stored where `options` cannot find them
            options = {}
        else:
            shown = []
        for key, value in options.items():
            if isinstance(value, (bool, int, float, str)) or value is None:
                shown.append(f"{key}={value!r}")
        return f"{type(self).__name__}(model={type(self.model).__name__}, {', '.join(shown)})"

    # -- the record of what runs -------------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The canonical registered name of the method this attributor runs."""
        return self.method_name or _snake(type(self).__name__)

    def options(self) -> dict[str, Any]:
        """Every constructor option except the model, as given or as normalised by the constructor.

        The default reads each keyword parameter of ``__init__`` from the attribute of the same name (or
        from the fields of a ``settings`` dataclass attribute). Subclasses that store an option under
        another name override this.

        Raises:
            TypeError: a constructor option is stored nowhere the default can find it (the message
                names the attributor's class and the option; the class should store it under its
                own name or override ``options``).
        """
        params = list(inspect.signature(type(self).__init__).parameters.values())[2:]
        settings = getattr(self, "settings", None)
        settings_fields = (
            {f.name for f in dataclasses.fields(settings)}
            if dataclasses.is_dataclass(settings) and not isinstance(settings, type)
            else set()
        )
        out: dict[str, Any] = {}
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.name == "settings" and settings_fields:
                continue
            if p.name in settings_fields:
                out[p.name] = getattr(settings, p.name)
            elif hasattr(self, p.name):
                out[p.name] = getattr(self, p.name)
            else:
                cls = type(self).__name__
                raise TypeError(
                    f"{cls} cannot record its options: its constructor takes {p.name!r}, but {cls} "
                    f"has no attribute {p.name!r} (nor a settings field of that name); store it as "
                    f"self.{p.name} or override {cls}.options()"
                )
        for name in sorted(settings_fields - set(out)):
            out[name] = getattr(settings, name)
        return out

    def config(self) -> dict[str, Any]:
        """A complete, JSON-serialisable record of the method and its options (its fingerprint).

        Two attributors with the same record give the same results on the same machine. The record holds
        ``"method"`` (the canonical registered name), ``"version"`` (of videoattr) and every option;
        tensors appear as shape, dtype and a hash of their values, wrapped attributors as their own
        record, layers given as modules as their dotted name.

        Example:
            >>> import torch
            >>> from videoattr.methods import IntegratedGradients
            >>> IntegratedGradients(torch.nn.Linear(2, 2), steps=50).config()["steps"]
            50
        """
        record: dict[str, Any] = {"method": self.method, "version": __version__}
        record.update(to_jsonable(self.options()))
        return record

    def replace(self, **overrides: Any) -> Attributor:
        """A copy of this attributor with some options replaced, validated by the constructor.

        The copy equals ``type(self)(model, **{**init_options(), **overrides})``; this attributor is
        left unchanged (per-call options run on such a copy).

        Raises:
            TypeError: a name that is not an option (the message lists the options), or what the
                constructor raises for a wrong type.
            ValueError: what the constructor raises for a wrong value.
        """
        if not overrides:
            return self
        check_option_names(self, overrides)
        new = copy.copy(self)
        kwargs = {**self.init_options(), **overrides}
        type(self).__init__(new, self.model, **kwargs)
        return new

    def init_options(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this attributor with ``type(self)(model, **init_options())``."""
        return self.options()

    def option_names(self) -> tuple[str, ...]:
        """The names of the options: the constructor's keyword parameters after the model.

        Every one of them can be given per call (see the class docstring).
        """
        params = list(inspect.signature(type(self)).parameters.values())[1:]
        return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))

    def call_arguments(self) -> tuple[str, ...]:
        """The keywords ``attribute`` declares itself (arguments of a call, not options)."""
        return tuple(k for k in _declared_keywords(type(self).attribute) if k != "target")

    # -- shared mechanics for subclasses ---------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[None]:
        """Context in which the model is prepared for attribution and restored afterwards."""
        with model_session(self.model, eval_mode=self.eval_mode):
            yield

    def prepare(
        self, x: Tensor, target: Target, *, name: str = "x"
    ) -> tuple[Tensor, ResolvedTarget]:
        """Validate a clip batch (against the model's dtype too) and the target form.

        Class indices are checked against the number of classes once logits are known.
        """
        x = check_clip(x, name)
        check_model_dtype(self.model, x, name)
        return x, resolve_target(target, x.shape[0], x.device)

    def prepare_multi(
        self, x: Tensor, target: Target, *, name: str = "x"
    ) -> tuple[Tensor, ResolvedTarget | None, tuple[Tensor, Tensor, int] | None]:
        """Like [`prepare`][videoattr.core.base.Attributor.prepare], but several targets per clip come back expanded into rows.

        Returns:
            ``(x, resolved, None)`` for a single target per clip, ``(x, None, (x_rows, indices, k))``
            for several (see [`split_targets`][videoattr.core.base.Attributor.split_targets]).
        """
        x = check_clip(x, name)
        check_model_dtype(self.model, x, name)
        multi = self.split_targets(x, target)
        if multi is not None:
            return x, None, multi
        return x, resolve_target(target, x.shape[0], x.device), None

    def forward(self, x: Tensor, clip_index: Tensor | None = None) -> Tensor:
        """Run the model and check that it returns finite ``(N, K)`` logits.

        Args:
            x: ``(N, C, T, H, W)`` rows.
            clip_index: ``(N,)`` clip of each row, used to name the clip in errors (``None``: row ``i`` is
                clip ``i``).
        """
        return check_logits(self.model(x), x.shape[0], clip_index=clip_index)

    def resolve_with_clean_logits(self, x: Tensor, target: ResolvedTarget) -> ResolvedTarget:
        """Resolve ``target=None`` to each clean clip's top class with gradient-free forwards of ``x``.

        Explicit class indices and callables need no forward: indices are checked against the number of
        classes whenever they score logits.
        """
        if not target.needs_logits:
            return target
        return target.with_logits(self.clean_logits(x))

    def clean_logits(self, x: Tensor) -> Tensor:
        """Logits ``(B, K)`` of the clean clips ``x``, without a graph.

        Runs in forwards of at most ``max_batch_size`` clips, in a model session (a session this thread
        already holds is re-entered), and checks the logits like [`forward`][videoattr.core.base.Attributor.forward].
        """
        with self.session(), torch.no_grad():
            parts = [
                self.forward(x[s], torch.arange(s.start, s.stop, device=x.device))
                for s in chunk_slices(x.shape[0], self.max_batch_size)
            ]
        return torch.cat(parts)

    def split_targets(self, x: Tensor, target: Target) -> tuple[Tensor, Tensor, int] | None:
        """Expand several targets per clip into rows, or return ``None`` for a single target per clip.

        Returns:
            ``(x_rows, indices, k)``: ``x_rows`` ``(B*K, C, T, H, W)`` (clip ``b``'s ``K`` rows are
            consecutive), ``indices`` ``(B*K,)`` class of each row, ``k`` the number of targets per clip.
            Fold a result over the rows back with [`fold_targets`][videoattr.core.targets.fold_targets].
        """
        return expand_targets(x, target, self.clean_logits)

    # -- what a call computed ----------------------------------------------------------------------------
    @_per_call_options
    def explain(self, x: Tensor, target: Target = None, **overrides: Any) -> Explanation:
        """Attribute and report what the model said: maps, targets, probabilities, prediction.

        Args:
            x: clips ``(B, C, T, H, W)``.
            target: any form `attribute` accepts.
            **overrides: options for this call and the keywords `attribute` declares (as for
                `attribute`); the record (``config``) holds the options the call ran with.

        Returns:
            An [`Explanation`][videoattr.core.base.Explanation] (one extra gradient-free forward of ``x`` gives the probabilities).

        Raises:
            TypeError: `attribute` returned something other than a tensor for these keywords (a
                method whose keywords change what `attribute` returns overrides ``explain``).
        """
        x = check_clip(x)
        check_model_dtype(self.model, x, "x")
        logits = self.clean_logits(x)
        maps = self.attribute(x, target, **overrides)
        if not isinstance(maps, Tensor):
            raise TypeError(
                f"{type(self).__name__}.attribute returned a {type(maps).__name__}, not a tensor of maps; "
                f"explain() cannot report it (keywords given: {sorted(overrides)})"
            )
        return self.make_explanation(maps, target, logits)

    def make_explanation(
        self,
        maps: Tensor,
        target: Target,
        logits: Tensor,
        *,
        extras: Mapping[str, Any] | None = None,
    ) -> Explanation:
        """Assemble an [`Explanation`][videoattr.core.base.Explanation] from maps and the clean clips' logits.

        For subclasses whose ``explain`` computes more (perturbation methods pass ``extras``).

        Args:
            maps: what `attribute` returned for ``target``.
            target: the target as the caller gave it (any accepted form).
            logits: ``(B, num_classes)`` logits of the clean clips (e.g. [`clean_logits`][videoattr.core.base.Attributor.clean_logits]).
            extras: method-specific results.
        """
        probs = torch.softmax(logits.detach().float(), dim=1)
        indices = target_indices(target, logits)
        if indices is None:
            target_probability = torch.full((probs.shape[0],), float("nan"), device=probs.device)
        else:
            flat = indices.reshape(probs.shape[0], -1).to(probs.device)
            target_probability = probs.gather(1, flat).reshape(indices.shape)
        return Explanation(
            maps=maps,
            target=indices,
            probabilities=probs,
            prediction=probs.argmax(dim=1),
            target_probability=target_probability,
            method=self.method,
            config=self.config(),
            extras=dict(extras or {}),
        )
