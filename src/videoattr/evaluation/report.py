"""The evaluation table as Markdown, CSV and JSON (with the configuration and versions)."""

from __future__ import annotations

import csv
import io
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videoattr.datasets.boxes import EDGE_RULE
from videoattr.evaluation.figure import save_figure
from videoattr.evaluation.scoring import COLUMNS, Cell

__all__ = ["Row", "Table", "versions"]

#: What each column means, for the table's notes (the docs' protocol page has the formulas).
NOTES: dict[str, str] = {
    "pointing": (
        "per frame, a hit when the map's peak lies within the tolerance (a disc) of a box; frames "
        "without a box are not scored; hit rate per class, averaged over the classes present"
    ),
    "pointing_reference": (
        "the reference implementation's scoring (Li et al., WACV 2021): peak (row, col) tested as "
        "(x, y), the box grown by a square, frames without a box scored against (0, 0, 0, 0), "
        "averaged over all classes"
    ),
    "mass": "share of the positive attribution inside the boxes, per video, averaged per class",
    "grounding": (
        "two videos of different classes joined in time, the first's or the second's class "
        "explained: 1 when the half with more positive mass is that video's, 0.5 on a tie, else 0; "
        "averaged per class (chance 0.5)"
    ),
}


def versions() -> dict[str, str]:
    """The versions a result depends on: videoattr, torch, torchvision, numpy, Python, the platform."""
    import numpy
    import torch
    import torchvision  # type: ignore[import-untyped, unused-ignore]

    from videoattr import __version__

    return {
        "videoattr": __version__,
        "torch": torch.__version__,
        "torchvision": str(torchvision.__version__),
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


@dataclass(frozen=True)
class Row:
    """One method's line: its cells by column key, and its counts.

    Attributes:
        method: the method's name (``oracle`` and ``random`` are the baselines).
        cells: column key -> [`Cell`][videoattr.evaluation.scoring.Cell].
        videos: videos scored.
        failed: videos whose attribution failed (listed in the run's ``failures/``).
        seconds: mean attribution time per video (``None`` for the baselines).
        baseline: whether the row is a baseline rather than a method.
    """

    method: str
    cells: Mapping[str, Cell]
    videos: int
    failed: int = 0
    seconds: float | None = None
    baseline: bool = False


@dataclass
class Table:
    """The evaluation table and what made it.

    Attributes:
        rows: one per method, then the baselines.
        columns: the score columns shown (keys of `COLUMNS`).
        config: the evaluation's settings (dataset, model, methods, protocol, ...).
        skipped: ``(video, reason)`` of every video left out.
        clipped: ``(video, number of boxes)`` of every scored video with boxes that passed the
            frame's edge by a little, clipped to the frame (see
            [`clip_near_edges`][videoattr.datasets.annotated.clip_near_edges]).
        accuracy: the model's top-1 accuracy on the scored videos (``None`` when unknown).
    """

    rows: list[Row]
    columns: list[str]
    config: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    accuracy: float | None = None
    clipped: list[tuple[str, int]] = field(default_factory=list)

    @property
    def boxes_clipped(self) -> int:
        """How many boxes of the scored videos were clipped to their frame."""
        return sum(n for _, n in self.clipped)

    def headings(self) -> list[str]:
        return [
            "Method",
            *(COLUMNS[c] for c in self.columns),
            "Videos",
            "Failed",
            "Time / video (s)",
        ]

    def _cells(self, row: Row) -> list[str]:
        name = f"{row.method} (baseline)" if row.baseline else row.method
        seconds = "" if row.seconds is None else f"{row.seconds:.2f}"
        return [
            name,
            *(row.cells[c].text() for c in self.columns),
            str(row.videos),
            str(row.failed),
            seconds,
        ]

    def markdown(self) -> str:
        """The table in Markdown with a line of context and a note per column."""
        cfg = self.config
        lines = [
            f"# {cfg.get('dataset')}: {', '.join(r.method for r in self.rows if not r.baseline)}",
            "",
            f"Model `{cfg.get('model')}` (weights: {cfg.get('weights')}), split `{cfg.get('split')}`, "
            f"{cfg.get('num_videos')} videos scored, {len(self.skipped)} skipped, "
            f"boxes clipped: {self.boxes_clipped}"
            + (f", top-1 accuracy {self.accuracy:.3f}" if self.accuracy is not None else "")
            + f". Each cell: mean over classes ± bootstrap standard error ({cfg.get('resamples')} "
            "resamples of the videos).",
            "",
            "| " + " | ".join(self.headings()) + " |",
            "|" + "---|" * len(self.headings()),
        ]
        lines += ["| " + " | ".join(self._cells(r)) + " |" for r in self.rows]
        lines += ["", *(f"- **{COLUMNS[c]}**: {NOTES[c]}." for c in self.columns)]
        lines.append(
            "- **oracle** is the boxes' own mask; **random** is the exact expectation of a uniformly "
            "random peak (pointing) and of uniform noise (mass): the floor."
        )
        if self.skipped:
            lines += ["", f"Skipped videos ({len(self.skipped)}):", ""]
            lines += [f"- `{v}`: {reason}" for v, reason in self.skipped]
        if self.clipped:
            lines += [
                "",
                f"Boxes clipped to the frame ({self.boxes_clipped} in {len(self.clipped)} videos; "
                f"each passed the edge by at most {EDGE_RULE}):",
                "",
            ]
            lines += [f"- `{v}`: {n} box{'es' if n != 1 else ''}" for v, n in self.clipped]
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        """One line per row: the mean and standard error of each column, and the counts."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        head = ["method", "baseline"]
        for c in self.columns:
            head += [c, f"{c}_se"]
        writer.writerow([*head, "videos", "failed", "seconds_per_video"])
        for r in self.rows:
            values: list[Any] = [r.method, int(r.baseline)]
            for c in self.columns:
                values += [f"{r.cells[c].mean:.6f}", f"{r.cells[c].se:.6f}"]
            seconds = "" if r.seconds is None else f"{r.seconds:.4f}"
            writer.writerow([*values, r.videos, r.failed, seconds])
        return buffer.getvalue()

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: config, versions, columns, rows, skipped videos, clipped boxes."""
        return {
            "config": self.config,
            "versions": versions(),
            "columns": {c: {"heading": COLUMNS[c], "meaning": NOTES[c]} for c in self.columns},
            "accuracy": self.accuracy,
            "rows": [
                {
                    "method": r.method,
                    "baseline": r.baseline,
                    "videos": r.videos,
                    "failed": r.failed,
                    "seconds_per_video": r.seconds,
                    **{c: {"mean": r.cells[c].mean, "se": r.cells[c].se} for c in self.columns},
                }
                for r in self.rows
            ],
            "skipped": [{"video": v, "reason": reason} for v, reason in self.skipped],
            "boxes_clipped": self.boxes_clipped,
            "clipped": [{"video": v, "boxes": n} for v, n in self.clipped],
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``table.md``, ``table.csv``, ``table.json`` and ``figure.png`` into ``out_dir``."""
        from videoattr.runner.store import write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "markdown": out / "table.md",
            "csv": out / "table.csv",
            "figure": out / "figure.png",
        }
        paths["markdown"].write_text(self.markdown())
        paths["csv"].write_text(self.csv())
        paths["json"] = write_json(out / "table.json", self.as_dict())
        save_figure(self, paths["figure"])
        return paths


def method_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows that are methods, not baselines."""
    return [r for r in rows if not r.baseline]
