"""The errors [`videoattr.io`][videoattr.io] raises for videos it cannot use."""

from __future__ import annotations

__all__ = ["VideoReadError", "VideoTooShortError"]


class VideoReadError(ValueError):
    """A video file, GIF or frame image exists but could not be decoded (the message names it)."""


class VideoTooShortError(VideoReadError):
    """A video has fewer frames than the requested sampling needs (the message names it and its count)."""
