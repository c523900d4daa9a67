"""The rows of a contact sheet: which maps and clips, in which order, with which labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from videoattr.core.validation import describe
from videoattr.viz.style import SheetCaption


def per_clip(value: object, b: int, name: str) -> list[object]:
    if value is None:
        return [None] * b
    if isinstance(value, Tensor):
        value = value.detach().flatten().tolist()
    if isinstance(value, (str, int, float, SheetCaption)):
        return [value] * b
    if isinstance(value, Sequence) and len(value) == b:
        return list(value)
    raise ValueError(f"{name} must be one value or one per clip ({b}); got {describe(value)}")


def clip_captions(
    caption: SheetCaption | Sequence[SheetCaption] | None, b: int
) -> list[SheetCaption | None]:
    """One caption per clip (``None``: no caption)."""
    if caption is None:
        return [None] * b
    out = per_clip(caption, b, "caption")
    for c in out:
        if not isinstance(c, SheetCaption):
            raise TypeError(f"caption must be a SheetCaption or one per clip; got {describe(c)}")
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class Row:
    """One row of cells: its name, the text drawn left of it, its clip and frames ``(T, H, W, 3)``."""

    name: str
    label: tuple[str, ...]
    clip: int
    video: Tensor


def preserved_label(name: str | None, probability: float | None) -> tuple[str, ...]:
    lines = ["preserved"] + ([name] if name else [])
    if probability is not None:
        lines += ["p(target | preserved)", f"= {probability:.3f}"]
    return tuple(lines)


def build_rows(
    rgb: Tensor,
    over: Tensor,
    kept: Tensor | None,
    names: Sequence[Sequence[tuple[str, tuple[str, ...]]]],
    captions: Sequence[SheetCaption | None],
) -> list[Row]:
    """Rows of cells for every clip, top to bottom (``names[i][j]``: the name and label of map j).

    With one preserved clip per area (and several areas) each area's mask row is followed by its
    preserved row, labelled with the area and its ``p(target | preserved)``.
    """
    rows: list[Row] = []
    for i in range(over.shape[0]):
        a = over.shape[1]
        cap = captions[i]
        probs = cap.preserved_probabilities() if cap is not None else ()
        rows.append(Row("input", ("input",), i, rgb[min(i, rgb.shape[0] - 1)].cpu()))
        k = 0 if kept is None else kept.shape[1]
        per_area = kept is not None and k == a and a > 1
        for j in range(a):
            name, label = names[i][j]
            rows.append(Row(name, label, i, over[i, j]))
            if per_area and kept is not None:
                p = probs[j] if len(probs) == a else None
                rows.append(Row(f"preserved {name}", preserved_label(name, p), i, kept[i, j]))
        if kept is not None and not per_area:
            for j in range(k):
                p = probs[j] if len(probs) == k else None
                row_name = "preserved" if k == 1 else f"preserved {j}"
                rows.append(Row(row_name, preserved_label(None, p), i, kept[i, j]))
    t, h, w = rows[0].video.shape[:3]
    for row in rows:
        if row.video.shape[:3] != (t, h, w):
            raise ValueError(
                f"all rows must share (T, H, W) = {(t, h, w)}; got {tuple(row.video.shape[:3])}"
            )
    return rows


def map_labels(
    map_names: Sequence[str] | None,
    targets: list[list[str]] | None,
    target_probs: list[list[float]] | None,
    b: int,
    a: int,
) -> list[list[tuple[str, tuple[str, ...]]]]:
    """The name and label lines of every map row of every clip."""
    if map_names is not None and len(map_names) != a:
        raise ValueError(
            f"map_names must have {a} entries, one per heatmap channel; got {len(map_names)}"
        )
    if targets is None:
        plain = (
            list(map_names)
            if map_names is not None
            else (["heatmap"] if a == 1 else [f"heatmap {i}" for i in range(a)])
        )
        return [[(n, (n,)) for n in plain] for _ in range(b)]
    per_target = a // len(targets[0])
    out = []
    for i in range(b):
        row = []
        for j in range(a):
            k, area = divmod(j, per_target)
            name = targets[i][k]
            label = [name]
            if per_target > 1:
                area_name = map_names[area] if map_names is not None else f"heatmap {area}"
                name, label = f"{name} {area_name}", [name, area_name]
            if target_probs is not None:
                label += ["p(target | clip)", f"= {target_probs[i][k]:.3f}"]
            row.append((name, tuple(label)))
        out.append(row)
    return out


def nested_values(value: object, b: int, k: int, name: str) -> list[list[object]]:
    """One value per clip and target, ``(B, K)``, from K values shared by all clips or B lists."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            f"{name} must be a sequence of {k} entries or {b} of them; got {describe(value)}"
        )
    items = list(value)
    if len(items) == k and not any(isinstance(v, (list, tuple)) for v in items):
        return [list(items) for _ in range(b)]
    if len(items) == b and all(isinstance(v, (list, tuple)) and len(v) == k for v in items):
        return [list(v) for v in items]
    raise ValueError(
        f"{name} must hold {k} entries (one per target) or {b} lists of {k} (one per clip); "
        f"got {describe(value)}"
    )


def names_of_targets(
    target_names: object, class_names: Sequence[str] | None, b: int, k: int
) -> list[list[str]]:
    if target_names is None:
        return [[f"target {j}" for j in range(k)] for _ in range(b)]
    nested = nested_values(target_names, b, k, "target_names")

    def name(v: object) -> str:
        if isinstance(v, int) and class_names is not None and 0 <= v < len(class_names):
            return str(class_names[v])
        return str(v)

    return [[name(v) for v in row] for row in nested]
