"""The explanation of a whole video by sliding windows: its stitched maps, its timeline and the
text and JSON that describe it ([`VideoExplanation`][videoattr.pipeline.video_explanation.VideoExplanation])."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["VideoExplanation"]


@dataclass(frozen=True, repr=False)
class VideoExplanation:
    """The explanation of a whole video by sliding windows.

    Attributes:
        maps: ``(A, M, H, W)`` stitched maps, one per sampled frame (CPU; ``A`` = 1, or one per
            area for perturbation masks).
        frame_indices: ``(M,)`` the video frame of each map.
        coverage: ``(M,)`` how many windows cover each sampled frame (at least 1).
        window_starts: ``(W,)`` the first video frame of each window.
        probabilities: ``(W, K)`` the model's softmax on each window.
        target: the explained class.
        target_name: its name, or ``None`` when the model has no class names.
        num_frames: ``N``, the video's frames.
        clip_len: ``T``, frames per window.
        stride: ``S``, sampled frames between window starts.
        frame_step: ``s``, video frames between sampled frames.
        fps: the video's frame rate, or ``None``.
        padded: frames repeated to fill the only window of a video shorter than ``T`` (else 0).
        method: the method's canonical name.
        config: the method's record and the window settings (``clip_len``, ``stride``,
            ``frame_step``, ``max_batch_size``, ``short_video``).
        areas: the perturbation areas (empty for map methods).
        class_names: the model's class names, when it has them.
        seconds: wall time of the attributions (without the scoring pass).
        timestamps: the time in seconds of each of the ``N`` video frames (from the file), or
            ``None`` (then times are ``frame / fps``).
    """

    maps: Tensor
    frame_indices: Tensor
    coverage: Tensor
    window_starts: Tensor
    probabilities: Tensor
    target: int
    target_name: str | None
    num_frames: int
    clip_len: int
    stride: int
    frame_step: int
    fps: float | None = None
    padded: int = 0
    method: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    areas: tuple[float, ...] = ()
    class_names: tuple[str, ...] | None = None
    seconds: float = 0.0
    timestamps: tuple[float, ...] | None = None

    def frame_time(self, frame: int) -> float | None:
        """The time in seconds at which video frame ``frame`` starts (``frame`` may be ``N``: the
        end of the last frame), from the timestamps, else ``frame / fps``; ``None`` without
        either."""
        ts = self.timestamps
        if ts is not None and len(ts) == self.num_frames and self.num_frames:
            if frame < len(ts):
                return ts[frame]
            last = ts[-1] - ts[-2] if len(ts) > 1 else (1 / self.fps if self.fps else 0.0)
            return ts[-1] + last * (frame - len(ts) + 1)
        return frame / self.fps if self.fps else None

    @property
    def target_probability(self) -> Tensor:
        """``(W,)`` the target's probability on each window: the timeline."""
        return self.probabilities[:, self.target]

    @property
    def prediction(self) -> Tensor:
        """``(W,)`` the model's top class on each window."""
        return self.probabilities.argmax(dim=1)

    @property
    def prediction_probability(self) -> Tensor:
        """``(W,)`` the probability of each window's top class."""
        return self.probabilities.max(dim=1).values

    @property
    def window_ends(self) -> Tensor:
        """``(W,)`` the last video frame of each window (inclusive; may pass the video's end for a
        padded window)."""
        return self.window_starts + (self.clip_len - 1) * self.frame_step

    def window_span(self, index: int) -> str:
        """Where window ``index`` lies in the video, as text: ``"2.0-4.0 s"`` (from its first frame to
        the end of its last) from the video's timestamps or frame rate, else ``"frames 16-31"``; a padded window
        ends with the video."""
        start = int(self.window_starts[index])
        end = min(int(self.window_ends[index]), self.num_frames - 1)
        begin, finish = self.frame_time(start), self.frame_time(end + 1)
        if begin is not None and finish is not None:
            return f"{begin:.1f}-{finish:.1f} s"
        return f"frames {start}-{end}"

    def best_window(self) -> str:
        """The window where the target is most probable: ``"max 0.813 in the window 2.0-4.0 s"``."""
        p = self.target_probability
        best = int(p.argmax())
        return f"max {float(p[best]):.3f} in the window {self.window_span(best)}"

    def class_name(self, index: int) -> str:
        """The name of class ``index`` (its index as text without class names)."""
        names = self.class_names
        return names[index] if names is not None and 0 <= index < len(names) else str(index)

    def per_video_frame(self) -> Tensor:
        """``(A, N, H, W)``: one map per video frame, each sampled frame's map held until the next."""
        hold = (torch.arange(self.num_frames) // self.frame_step).clamp(max=self.maps.shape[1] - 1)
        return self.maps[:, hold]

    def summary(self) -> dict[str, Any]:
        """The JSON record: target, windows with their probabilities, settings, map shape."""
        p = self.target_probability
        best = int(p.argmax())
        return {
            "method": self.method,
            "target": {
                "index": self.target,
                "name": self.target_name,
                "mean_prob": float(p.mean()),
                "max_prob": float(p[best]),
                "max_window_start": int(self.window_starts[best]),
            },
            "num_frames": self.num_frames,
            "fps": self.fps,
            "clip_len": self.clip_len,
            "stride": self.stride,
            "frame_step": self.frame_step,
            "padded": self.padded,
            "areas": list(self.areas),
            "map_shape": list(self.maps.shape),
            "seconds": self.seconds,
            "windows": [
                {
                    "start": int(s),
                    "end": int(e),
                    "target_prob": float(tp),
                    "prediction": {
                        "index": int(k),
                        "name": self.class_name(int(k)),
                        "prob": float(kp),
                    },
                }
                for s, e, tp, k, kp in zip(
                    self.window_starts.tolist(),
                    self.window_ends.tolist(),
                    p.tolist(),
                    self.prediction.tolist(),
                    self.prediction_probability.tolist(),
                    strict=True,
                )
            ],
            "settings": self.config,
            **({"timestamps": [round(t, 6) for t in self.timestamps]} if self.timestamps else {}),
        }

    def __repr__(self) -> str:
        p = self.target_probability
        name = f" {self.target_name!r}" if self.target_name is not None else ""
        return (
            f"VideoExplanation(method={self.method!r}, target={self.target}{name}, frames="
            f"{self.num_frames} (frame_step {self.frame_step}), windows={len(p)} of {self.clip_len} "
            f"(stride {self.stride}), maps={tuple(self.maps.shape)}, p(target) mean "
            f"{float(p.mean()):.3f}, {self.best_window()})"
        )
