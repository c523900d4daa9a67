"""How maps are drawn ([`OverlayStyle`][videoattr.viz.style.OverlayStyle]) and what a picture says
about them ([`SheetCaption`][videoattr.viz.style.SheetCaption]).

An [`OverlayStyle`][videoattr.viz.style.OverlayStyle] gathers the six settings that
[`overlay`][videoattr.viz.overlay.overlay], [`panels`][videoattr.viz.writers.panels],
[`render_sheet`][videoattr.viz.sheet.render_sheet] and [`show`][videoattr.viz.display.show] share.
A [`SheetCaption`][videoattr.viz.style.SheetCaption] is filled by the caller (who knows the class
names, the model and the method) and becomes the header of a sheet and the caption strip of a video.
Every number in it is named by what it measures, e.g. ``p(target | clip)`` for the clip's softmax
probability of the explained class and ``p(target | preserved)`` for the same probability on the
clip that a perturbation mask preserves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from videoattr.core.ops import POLARITIES, Polarity
from videoattr.core.validation import check_choice
from videoattr.viz.colormaps import Colormap

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["OverlayStyle", "SheetCaption", "merge_style"]


@dataclass(frozen=True)
class OverlayStyle:
    """How attribution maps are coloured and blended over the frames.

    Attributes:
        cmap: colormap name or ``(N, 3)`` table; default ``None``: ``"turbo"``, or ``"bwr"`` for
            ``polarity="signed"``.
        alpha: opacity of the colours in ``[0, 1]``; default 0.5 (1 shows the colours only).
        polarity: how maps are scaled, see [`scale_maps`][videoattr.viz.overlay.scale_maps];
            default ``None``: decided by the values drawn, ``"signed"`` when any of them is
            negative (see [`resolve`][videoattr.viz.style.OverlayStyle.resolve]), else min-max per
            map.
        value_range: fixed ``(lo, hi)`` mapped to the colormap's ends; default ``None`` (per map).
            Use ``(0, 1)`` for perturbation masks. A signed scale widens it to ``(-m, m)`` with
            ``m = max(|lo|, |hi|)``, so that 0 stays in the middle.
        mean: per-channel mean used to normalise float clips; default ``None`` (zeros).
        std: per-channel std used to normalise float clips; default ``None`` (ones).

    Example:
        >>> style = OverlayStyle(value_range=(0, 1))
        >>> style.colormap, style.replace(alpha=1.0).alpha
        ('turbo', 1.0)
    """

    cmap: Colormap | None = None
    alpha: float = 0.5
    polarity: Polarity | None = None
    value_range: tuple[float, float] | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None

    def __post_init__(self) -> None:
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a <= 1.0:
            raise ValueError(f"alpha must be a number in [0, 1]; got {a!r}")
        if self.polarity is not None:
            check_choice(self.polarity, "polarity", POLARITIES)
        if self.value_range is not None:
            lo, hi = (float(v) for v in self.value_range)
            if not lo < hi:
                raise ValueError(
                    f"value_range must be (lo, hi) with lo < hi; got {self.value_range!r}"
                )
            object.__setattr__(self, "value_range", (lo, hi))
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(v) for v in value))

    @property
    def colormap(self) -> Colormap:
        """The colormap actually used (``cmap``, or the default for the polarity)."""
        if self.cmap is not None:
            return self.cmap
        return "bwr" if self.polarity == "signed" else "turbo"

    def replace(self, **changes: Any) -> OverlayStyle:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def signed(self) -> bool:
        """Whether maps are drawn on a diverging scale centred on zero (``polarity="signed"``)."""
        return self.polarity == "signed"

    def resolve(self, maps: Tensor) -> OverlayStyle:
        """The style that ``maps`` are drawn with: the one rule for signed maps.

        A signed map is always drawn on a diverging scale centred on zero: with ``polarity`` left
        to ``None``, maps holding any negative value get ``polarity="signed"`` (the decision is
        taken once for all the maps of one picture, so they share one colormap and one colour
        bar); a signed scale with a ``value_range`` widens it to ``(-m, m)``. Maps without
        negative values keep ``polarity=None`` (min-max per map, or the ``value_range``). To draw
        a signed map otherwise, choose a polarity that makes it non-negative (``"positive"``,
        ``"negative"`` or ``"absolute"``).

        Args:
            maps: every map of the picture, float ``(..., T, H, W)``.

        Returns:
            This style with its ``polarity`` (and ``value_range``) settled.

        Example:
            >>> import torch
            >>> OverlayStyle().resolve(torch.tensor([[[-1.0, 2.0]]])).polarity
            'signed'
            >>> OverlayStyle(value_range=(-1, 3)).resolve(torch.ones(1, 1, 1) * -1).value_range
            (-3.0, 3.0)
        """
        import torch

        polarity = self.polarity
        if polarity is None and bool((torch.nan_to_num(maps.detach()) < 0).any()):
            polarity = "signed"
        value_range = self.value_range
        if polarity == "signed" and value_range is not None:
            m = max(abs(value_range[0]), abs(value_range[1]))
            value_range = (-m, m)
        if polarity == self.polarity and value_range == self.value_range:
            return self
        return self.replace(polarity=polarity, value_range=value_range)

    def tick_labels(self, maps: Tensor | None = None) -> tuple[str, str, str]:
        """What the low end, the middle and the high end of the colour bar stand for.

        Args:
            maps: the maps drawn, ``(..., T, H, W)``; when they are one map scaled on its own, the
                ends are its numbers (e.g. ``-7.1e-05``, ``0``, ``+7.1e-05``), else words such as
                ``"max (per map)"``.
        """
        if self.value_range is not None:
            lo, hi = self.value_range
            if self.signed:
                return f"{lo:.3g}", "0", f"+{hi:.3g}"
            return f"{lo:.3g}", f"{(lo + hi) / 2:.3g}", f"{hi:.3g}"
        one = maps is not None and maps.dim() >= 3 and maps[..., 0, 0, 0].numel() == 1
        if one and maps is not None and maps.numel():
            return self._numbers(maps)
        if self.signed:
            return "-max|map|", "0", "+max|map|"
        if self.polarity is not None:
            return "0", "", "max (per map)"
        return "min (per map)", "", "max (per map)"

    def _numbers(self, maps: Tensor) -> tuple[str, str, str]:
        """The colour bar's ends for one map scaled on its own."""
        import torch

        from videoattr.core.ops import apply_polarity

        x = torch.nan_to_num(maps.detach().float())
        if self.signed:
            m = float(x.abs().max())
            return f"-{m:.3g}", "0", f"+{m:.3g}"
        if self.polarity is not None:
            return "0", "", f"{float(apply_polarity(x, self.polarity).max()):.3g}"
        return f"{float(x.min()):.3g}", "", f"{float(x.max()):.3g}"

    def scale_note(self) -> str:
        """A few words after the colour bar saying how the values were mapped to colours."""
        if self.signed:
            colours = ": blue < 0 < red" if self.colormap == "bwr" else ""
            return f"signed, centred on 0{colours}"
        if self.value_range is not None:
            return "fixed range"
        if self.polarity is not None:
            return f"{self.polarity} part, 0 to the maximum of each map"
        return "each map from its minimum to its maximum"

    def __repr__(self) -> str:
        fields = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)]
        short = [s if len(s) < 60 else s[:57] + "..." for s in fields]
        return f"OverlayStyle({', '.join(short)})"


#: The settings of an [`OverlayStyle`][videoattr.viz.style.OverlayStyle] that every drawing function
#: also takes as a keyword argument, overriding its ``style`` for one call.
_OVERRIDES = ("cmap", "alpha", "polarity", "value_range", "mean", "std")


def merge_style(style: OverlayStyle | None, **overrides: Any) -> OverlayStyle:
    """``style`` (default ``OverlayStyle()``) with one call's settings applied on top.

    Keyword arguments left at ``None`` are ignored, so ``overlay(frames, maps, alpha=1.0)`` is
    ``overlay(frames, maps, style=OverlayStyle(alpha=1.0))``.

    Raises:
        TypeError: ``style`` is not an [`OverlayStyle`][videoattr.viz.style.OverlayStyle] or an
            unknown setting is given.
    """
    if style is None:
        style = OverlayStyle()
    elif not isinstance(style, OverlayStyle):
        raise TypeError(f"style must be an OverlayStyle or None; got {type(style).__name__}")
    unknown = sorted(set(overrides) - set(_OVERRIDES))
    if unknown:
        raise TypeError(f"unknown style settings {unknown}; known: {list(_OVERRIDES)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return style.replace(**changes) if changes else style


def _number(value: float | None, digits: int = 3) -> str:
    return "?" if value is None else f"{float(value):.{digits}f}"


@dataclass(frozen=True)
class SheetCaption:
    """What a picture shows, filled by the caller and written in the header of a sheet or video.

    Every field is optional; what is left at ``None`` is not written.

    Attributes:
        target: name (or index) of the class being explained.
        target_probability: ``p(target | clip)``, the softmax probability of the target on the clip.
        prediction: name (or index) of the model's top class on the clip.
        prediction_probability: ``p(prediction | clip)``.
        method: the method's name, e.g. ``"step"`` or ``"grad_cam"``.
        settings: the method's key settings, written as ``key value`` pairs in order, e.g.
            ``{"area": 0.1, "iterations": 300}`` or ``{"preset": "fast"}``.
        preserved_probability: ``p(target | preserved)``, the target's probability on the clip that
            a perturbation mask preserves (perturbation methods only); one number, or one per area
            in the order of the areas (a sheet then writes each next to its area's rows).
        random_weights: ``True`` when the model has no trained weights: the header then says so in
            red, because such maps explain noise.
        note: one more free line of text (e.g. the clip's file name).

    Example:
        >>> c = SheetCaption(target="down", target_probability=0.91, prediction="down",
        ...                  prediction_probability=0.91, method="step", settings={"area": 0.1})
        >>> c.lines()[0]
        'target: down   p(target | clip) = 0.910   prediction: down   p(prediction | clip) = 0.910'
    """

    target: str | int | None = None
    target_probability: float | None = None
    prediction: str | int | None = None
    prediction_probability: float | None = None
    method: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    preserved_probability: float | Sequence[float] | None = None
    random_weights: bool = False
    note: str | None = None

    #: The warning line written when ``random_weights`` is set.
    RANDOM_WEIGHTS_NOTE = "RANDOM WEIGHTS: the model is untrained, these maps explain noise"
    #: The shorter warning of a video's caption strip.
    RANDOM_WEIGHTS_SHORT = "RANDOM WEIGHTS (untrained model)"

    @classmethod
    def from_probabilities(
        cls,
        probabilities: Sequence[float] | Any,
        target: int,
        *,
        class_names: Sequence[str] | None = None,
        **fields: Any,
    ) -> SheetCaption:
        """The caption of one clip from its softmax ``probabilities`` ``(K,)`` and the target index.

        The prediction is the most probable class; names come from ``class_names`` when given
        (indices otherwise). Other fields (``method``, ``settings``, ``preserved_probability``,
        ``random_weights``, ``note``) pass through ``fields``.

        Raises:
            ValueError: ``target`` is not a class index of ``probabilities``.

        Example:
            >>> SheetCaption.from_probabilities([0.1, 0.7, 0.2], 2, class_names="abc").lines()[0]
            'target: c   p(target | clip) = 0.200   prediction: b   p(prediction | clip) = 0.700'
        """
        probs = [
            float(p)
            for p in (probabilities.tolist() if hasattr(probabilities, "tolist") else probabilities)
        ]
        k = len(probs)
        if not 0 <= int(target) < k:
            raise ValueError(f"target must be a class index in [0, {k}); got {target!r}")
        top = max(range(k), key=probs.__getitem__)

        def name(i: int) -> str | int:
            return class_names[i] if class_names is not None and i < len(class_names) else i

        return cls(
            target=name(int(target)),
            target_probability=probs[int(target)],
            prediction=name(top),
            prediction_probability=probs[top],
            **fields,
        )

    def preserved_probabilities(self) -> tuple[float, ...]:
        """``p(target | preserved)`` per area (empty when not set).

        Example:
            >>> SheetCaption(preserved_probability=[0.9, 0.5]).preserved_probabilities()
            (0.9, 0.5)
        """
        p = self.preserved_probability
        if p is None:
            return ()
        if isinstance(p, (int, float)):
            return (float(p),)
        return tuple(float(v) for v in p)

    def lines(self) -> tuple[str, ...]:
        """The header's lines of text, top to bottom (the random-weights note last)."""
        out: list[str] = []
        first: list[str] = []
        if self.target is not None or self.target_probability is not None:
            if self.target is not None:
                first.append(f"target: {self.target}")
            if self.target_probability is not None:
                first.append(f"p(target | clip) = {_number(self.target_probability)}")
        if self.prediction is not None:
            first.append(f"prediction: {self.prediction}")
        if self.prediction_probability is not None:
            first.append(f"p(prediction | clip) = {_number(self.prediction_probability)}")
        if first:
            out.append("   ".join(first))
        second: list[str] = []
        if self.method is not None:
            second.append(f"method: {self.method}")
        if self.settings:
            second.append(", ".join(f"{k}={_setting(v)}" for k, v in self.settings.items()))
        kept = self.preserved_probabilities()
        if kept:
            per_area = " (per area)" if len(kept) > 1 else ""
            numbers = ", ".join(_number(v) for v in kept)
            second.append(f"p(target | preserved) = {numbers}{per_area}")
        if second:
            out.append("   ".join(second))
        if self.note:
            out.append(self.note)
        if self.random_weights:
            out.append(self.RANDOM_WEIGHTS_NOTE)
        return tuple(out)

    def text(self) -> str:
        """The header as one string, lines joined by newlines."""
        return "\n".join(self.lines())

    def short(self) -> str:
        """One short line for a video's caption strip: method, target and (if set) the note.

        The random-weights warning is not part of it: the strip gives it a line of its own.
        """
        parts = []
        if self.method is not None:
            parts.append(str(self.method))
        if self.target is not None:
            parts.append(f"target: {self.target}")
        if self.note:
            parts.append(self.note)
        return " | ".join(parts)


def _setting(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_setting(v) for v in value)
    return str(value)
