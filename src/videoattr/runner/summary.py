"""What a dataset run did: one [`RankSummary`][videoattr.runner.summary.RankSummary] per process, one `RunSummary` overall."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RankSummary:
    """What one rank did in one run.

    Attributes:
        rank: the rank.
        world_size: number of ranks.
        device: the device it computed on.
        assigned: clips in its shard.
        done: clips attributed and written in this run.
        skipped: clips whose results were already complete (or, with ``retry_failed=False``, that
            had failed before and were not retried).
        busy: clips left to another process that held their lock.
        failed: clips that failed in this run.
        seconds: wall time of its part of the run.
        failures: ``id -> "ErrorType: message"`` for the clips that failed in this run.
    """

    rank: int
    world_size: int
    device: str
    assigned: int = 0
    done: int = 0
    skipped: int = 0
    busy: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def clips_per_second(self) -> float:
        """Clips attributed per second of wall time (0 when nothing was attributed)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, throughput included."""
        return {**dataclasses.asdict(self), "clips_per_second": self.clips_per_second}


@dataclass
class RunSummary:
    """The outcome of [`run`][videoattr.runner.run] over all ranks (every rank gets the same summary).

    Attributes:
        out_dir: the output folder.
        total: clips in the dataset.
        done: clips attributed and written in this run.
        skipped: clips already complete (not redone).
        failed: clips that failed in this run (see [`failures`][videoattr.runner.summary.RunSummary.failures] and ``OUT/failures/``).
        seconds: wall time of the slowest rank.
        ranks: each rank's [`RankSummary`][videoattr.runner.summary.RankSummary].
        manifest: path of ``manifest.json``.
        busy: clips left to another process that held their lock.
        unit: what an item is, ``"clip"`` or (a whole-video run) ``"video"``; words the summary.
    """

    out_dir: Path
    total: int
    done: int
    skipped: int
    failed: int
    seconds: float
    ranks: list[RankSummary]
    manifest: Path
    busy: int = 0
    unit: str = "clip"

    @property
    def clips_per_second(self) -> float:
        """Overall throughput: clips attributed by all ranks per second of the slowest rank."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def failures(self) -> dict[str, str]:
        """``id -> "ErrorType: message"`` of every clip that failed in this run."""
        return {k: v for r in self.ranks for k, v in r.failures.items()}

    @property
    def failures_dir(self) -> Path:
        """``OUT/failures``: one JSON record (error and traceback) per failed clip."""
        return self.out_dir / "failures"

    def __str__(self) -> str:
        busy = f", {self.busy} left to another process" if self.busy else ""
        return (
            f"{self.total} {self.unit}s: {self.done} done, {self.skipped} skipped, "
            f"{self.failed} failed{busy} in {self.seconds:.1f}s ({self.clips_per_second:.2f} "
            f"{self.unit}s/s over "
            f"{len(self.ranks)} rank{'s' if len(self.ranks) > 1 else ''})"
        )

    @classmethod
    def of(
        cls, ranks: list[RankSummary], out_dir: Path, total: int, unit: str = "clip"
    ) -> RunSummary:
        """The run's summary from every rank's (``unit``: ``"clip"`` or ``"video"``)."""
        return cls(
            out_dir=out_dir,
            total=total,
            done=sum(r.done for r in ranks),
            skipped=sum(r.skipped for r in ranks),
            failed=sum(r.failed for r in ranks),
            seconds=max(r.seconds for r in ranks),
            ranks=ranks,
            manifest=out_dir / "manifest.json",
            busy=sum(r.busy for r in ranks),
            unit=unit,
        )
