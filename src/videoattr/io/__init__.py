"""Read, sample, resize and write video clips.

Frames travel as ``torch.uint8`` tensors of shape ``(T, H, W, 3)``: RGB, channels last, on the CPU,
the layout of a decoded video and of `torchvision.io.read_video`. A model adapter's
``preprocess`` (or [`to_clip`][videoattr.io.to_clip] here, the same preprocessing) turns them into a normalised
float clip ``(1, 3, T, H, W)``; [`denormalize`][videoattr.io.denormalize] turns a clip back into frames.

One job per module:

- `videoattr.io.sampling`: which frames make a clip ([`sample_indices`][videoattr.io.sample_indices]: ``"uniform"``,
  ``"strided"``, ``"segments"`` or explicit indices; a video shorter than the clip raises
  [`VideoTooShortError`][videoattr.io.VideoTooShortError]);
- `videoattr.io.reading`: [`read_video`][videoattr.io.read_video], [`count_frames`][videoattr.io.count_frames] (video files, GIFs,
  frame folders; local files are opened only as local files, whatever their names);
- `videoattr.io.frames`: [`as_frames`][videoattr.io.as_frames], [`resize_frames`][videoattr.io.resize_frames], [`center_crop`][videoattr.io.center_crop];
- `videoattr.io.preprocessing`: [`to_clip`][videoattr.io.to_clip] and [`denormalize`][videoattr.io.denormalize];
- `videoattr.io.streaming`: [`iter_frames`][videoattr.io.iter_frames] (a long video a chunk of
  frames at a time) and [`video_fps`][videoattr.io.video_fps];
- `videoattr.io.writing`: [`write_video`][videoattr.io.write_video];
- `videoattr.io.safe_opening`: video files opened for FFmpeg safely (a local file opened as a
  file object, video containers only, FFmpeg's errors counted);
- `videoattr.io.decoding`: video files decoded in process by PyAV, with timestamps and seeking;
- `videoattr.io.ffmpeg`: the FFmpeg command that encodes video files;
- `videoattr.io.gif`: animated GIFs;
- `videoattr.io.folders`: frame-image folders, [`list_frame_files`][videoattr.io.list_frame_files],
  [`write_frames`][videoattr.io.write_frames].

Example:
    >>> frames = read_video("clip.mp4", 16, "strided", size=(128, 171), crop=112)  # doctest: +SKIP
    >>> frames.shape  # doctest: +SKIP
    torch.Size([16, 112, 112, 3])
    >>> x = to_clip(frames, mean=(0.43216, 0.39467, 0.37645), std=(0.22803, 0.22145, 0.21699))
    ... # doctest: +SKIP
"""

from videoattr.io.errors import VideoReadError, VideoTooShortError
from videoattr.io.folders import FRAME_EXTENSIONS, list_frame_files, write_frames
from videoattr.io.frames import as_frames, center_crop, resize_frames
from videoattr.io.preprocessing import denormalize, to_clip
from videoattr.io.reading import count_frames, read_video
from videoattr.io.sampling import SAMPLINGS, Sampling, sample_indices
from videoattr.io.streaming import iter_frames, video_fps
from videoattr.io.writing import write_video

__all__ = [
    "FRAME_EXTENSIONS",
    "SAMPLINGS",
    "Sampling",
    "VideoReadError",
    "VideoTooShortError",
    "as_frames",
    "center_crop",
    "count_frames",
    "denormalize",
    "iter_frames",
    "list_frame_files",
    "read_video",
    "resize_frames",
    "sample_indices",
    "to_clip",
    "video_fps",
    "write_frames",
    "write_video",
]
