"""Explain clips end to end and write what a person looks at.

One path serves everything that explains clips: `explain_batch` scores the clean clips
(probabilities, prediction), chooses each clip's target, runs the method and, for perturbation
methods, scores the preserved clips; it returns one [`ClipExplanation`][videoattr.pipeline.ClipExplanation] per clip, and
[`summary_dict`][videoattr.pipeline.summary_dict] turns one into the record that results carry. ``videoattr explain`` and
``demo`` call it through [`explain_clip`][videoattr.pipeline.explain_clip] (one clip), the dataset runner calls it per batch; so
the single clip is the dataset run with one clip.

The parts: [`methods`][videoattr.pipeline.methods] (a method reduced to one call, its record),
[`explain`][videoattr.pipeline.explain] (explaining clips), [`outputs`][videoattr.pipeline.outputs]
(pictures, maps, JSON), [`records`][videoattr.pipeline.records] (the stored record of a result),
[`whole_video`][videoattr.pipeline.whole_video] (whole videos by sliding windows:
[`explain_video`][videoattr.pipeline.explain_video]; [`windows`][videoattr.pipeline.windows] their
geometry and scores, [`video_explanation`][videoattr.pipeline.video_explanation] the result).
"""

from videoattr.io.video_frames import VideoFrames, read_frames
from videoattr.pipeline.explain import (
    ClipExplanation,
    explain_batch,
    explain_clip,
    perturbation_from_config,
    preserved_clips,
)
from videoattr.pipeline.methods import (
    AttributorLike,
    Method,
    as_method,
    model_options,
)
from videoattr.pipeline.outputs import (
    summary_dict,
    write_outputs,
)
from videoattr.pipeline.video_explanation import VideoExplanation
from videoattr.pipeline.video_outputs import (
    SHEET_FRAMES,
    render_video_sheet,
    write_video_outputs,
)
from videoattr.pipeline.whole_video import explain_video, explain_video_classes
from videoattr.pipeline.windows import window_starts

__all__ = [
    "SHEET_FRAMES",
    "AttributorLike",
    "ClipExplanation",
    "Method",
    "VideoExplanation",
    "VideoFrames",
    "as_method",
    "explain_batch",
    "explain_clip",
    "explain_video",
    "explain_video_classes",
    "model_options",
    "perturbation_from_config",
    "preserved_clips",
    "read_frames",
    "render_video_sheet",
    "summary_dict",
    "window_starts",
    "write_outputs",
    "write_video_outputs",
]
