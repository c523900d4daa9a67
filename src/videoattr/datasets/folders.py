"""A folder of videos as a dataset: finding the videos, reading labels from names, reading clips.

The convention is the paper's: the videos (or folders of frame images) lie directly inside one
folder, and the label of each is the part of its name before the first ``-``
(``abseiling-0001.mp4`` is labelled ``abseiling``). The command line's ``explain`` and the dataset
runner read folders through the same functions, so one clip is read the same way by both.

Example:
    >>> from videoattr.datasets.folders import class_from_label
    >>> class_from_label("Playing_Guitar", ["abseiling", "playing guitar"])
    1
    >>> class_from_label("7", None)
    7
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from videoattr.core.class_names import class_from_label as class_from_label  # where it lived
from videoattr.core.validation import describe

#: File endings read as videos (any sub-folder is read as a folder of frame images).
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".gif", ".m4v")
#: The longest name `safe_name` returns (file systems allow 255 bytes per name).
MAX_NAME_LENGTH = 200

Preprocess = Callable[[Tensor], Tensor]


def find_videos(
    root: str | Path,
    *,
    name: str = "videos folder",
    exclude: Sequence[str | Path] = (),
) -> list[Path]:
    """The video files and frame folders directly inside ``root``, sorted by name.

    Hidden entries (names starting with ``.``) are skipped, and so is an entry that is, or holds,
    one of ``exclude`` (a command's own output folder inside ``root``); `list_videos` also says
    what was skipped and why.

    Args:
        root: the folder.
        name: how errors call the folder (the command line says ``--videos-dir``).
            Default ``"videos folder"``.
        exclude: output folders that are not videos, even when they lie inside ``root``.

    Returns:
        The paths, sorted by name.

    Raises:
        FileNotFoundError: ``root`` is not a folder, or holds no videos or frame folders.
        PermissionError: ``root`` cannot be listed.
    """
    return list_videos(root, name=name, exclude=exclude)[0]


def list_videos(
    root: str | Path,
    *,
    name: str = "videos folder",
    exclude: Sequence[str | Path] = (),
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """`find_videos`, and the entries of ``root`` it skipped with the reason of each.

    Raises:
        FileNotFoundError: ``root`` is not a folder, or holds no videos or frame folders.
        PermissionError: ``root`` cannot be listed.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name} {str(folder)!r} is not a folder")
    try:
        entries = sorted(folder.iterdir())
    except PermissionError:
        raise PermissionError(
            f"{name} {str(folder)!r} cannot be read (permission denied)"
        ) from None
    outputs = [Path(os.path.abspath(x)).resolve() for x in exclude]
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for p in entries:
        resolved = p.resolve() if outputs else p
        if p.name.startswith("."):
            skipped.append((p, "a hidden name (it starts with '.')"))
        elif any(resolved == x for x in outputs) or (
            any(resolved in x.parents for x in outputs) and not _holds_frames(p)
        ):  # a frame folder holding the output stays an input (the commands refuse to write there)
            skipped.append((p, "the output folder"))
        elif p.is_dir() or (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES):
            found.append(p)
        else:
            skipped.append((p, "not a video file or a folder"))
    if not found:
        raise FileNotFoundError(
            f"{name} {str(folder)!r} holds no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders"
        )
    return found, skipped


def _holds_frames(folder: Path) -> bool:
    from videoattr.io import list_frame_files

    return bool(list_frame_files(folder))


def skipped_note(skipped: Sequence[tuple[Path, str]], *, shown: int = 5) -> str | None:
    """One line naming the entries `list_videos` skipped and why, or ``None`` when it skipped none.

    Example:
        >>> skipped_note([(Path("v/..-up.mp4"), "a hidden name (it starts with '.')")])
        "skipped 1 entry of v: ..-up.mp4 (a hidden name (it starts with '.'))"
    """
    if not skipped:
        return None
    parts = [f"{p.name} ({why})" for p, why in skipped[:shown]]
    if len(skipped) > shown:
        parts.append(f"and {len(skipped) - shown} more")
    n = len(skipped)
    return f"skipped {n} entr{'y' if n == 1 else 'ies'} of {skipped[0][0].parent}: " + ", ".join(
        parts
    )


def class_file_name(name: str) -> str:
    """A class name as part of a file name: white space becomes ``_``, then `safe_name`.

    The class name itself stays in the records; only file names use this.

    Example:
        >>> class_file_name("catching or throwing baseball")
        'catching_or_throwing_baseball'
    """
    return safe_name("_".join(str(name).split()) or "_")


def clip_stem(path: Path) -> str:
    """A video's name without its ending (a frame folder's whole name)."""
    return path.stem if path.suffix.lower() in VIDEO_SUFFIXES and not path.is_dir() else path.name


def label_of(path: Path) -> str:
    """The label encoded in a video's name: the part before the first ``-`` (the paper's convention).

    The label is text taken from a file name: use `safe_name` before making a path of it.
    """
    return clip_stem(path).split("-")[0]


def safe_name(text: str, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """``text`` made into one plain file name that cannot leave the folder it is joined to.

    Path separators (``/``, ``\\``), NUL and other control characters become ``_``; a leading ``.``
    (``..``, hidden names) becomes ``_``; an empty name becomes ``_``. A name longer than
    ``max_length`` is cut and ends with ``~`` and 10 hex digits of its hash, so two long names that
    share a beginning stay apart. A name that needs none of this is returned unchanged.

    Args:
        text: a name taken from a file name, a label or an option.
        max_length: the longest result. Default 200.

    Example:
        >>> safe_name("..-up"), safe_name("a\\\\b-x"), safe_name("walk")
        ('_.-up', 'a_b-x', 'walk')
    """
    out = "".join("_" if c in "/\\" or ord(c) < 32 or c == "\x7f" else c for c in text)
    if out.startswith("."):
        out = "_" + out[1:]
    out = out or "_"
    if len(out) > max_length or len(out.encode()) > max_length:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        keep = max_length - 11
        head = out[:keep]
        while len(head.encode()) > keep:
            head = head[:-1]
        out = f"{head}~{digest}"
    return out


def load_clip(
    path: str | Path,
    *,
    clip_len: int,
    sampling: Callable[[int], Sequence[int]],
    preprocess: Preprocess,
) -> Tensor:
    """Read the frames a model samples from a video and preprocess them.

    Args:
        path: a video file or a folder of frame images.
        clip_len: frames per clip ``T``.
        sampling: ``n -> frame indices``, e.g. an adapter's ``sampling.indices``.
        preprocess: uint8 frames ``(T, H, W, 3)`` to a normalised clip ``(1, C, T, H, W)``.

    Returns:
        The clip ``(1, C, T, H, W)`` as ``preprocess`` returns it.

    Raises:
        VideoTooShortError: the video has fewer than ``clip_len`` frames.
        VideoReadError: the video cannot be decoded.
    """
    from videoattr import io

    n = io.count_frames(path)
    if n < clip_len:
        raise io.VideoTooShortError(
            f"video {path} has {n} frames; the model needs at least {clip_len}"
        )
    frames = io.read_video(path, sampling=list(sampling(n)))
    clip = preprocess(frames)
    return clip if clip.dim() == 5 else clip.unsqueeze(0)


def adapter_reading(model: Any) -> tuple[int, Callable[[int], Sequence[int]], Preprocess]:
    """A zoo adapter's clip length, frame sampling and preprocessing.

    Raises:
        TypeError: ``model`` lacks ``clip_len``, ``sampling.indices`` or a preprocessing (a
            [`VideoAdapter`][videoattr.zoo.VideoAdapter] has them; wrap a bare network with
            [`videoattr.zoo.wrap`][videoattr.zoo.wrap]).
    """
    sampling = getattr(getattr(model, "sampling", None), "indices", None)
    preprocess = getattr(model, "preprocessing", None)
    if preprocess is None:
        preprocess = getattr(model, "preprocess", None)
    clip_len = getattr(model, "clip_len", None)
    if not callable(sampling) or not callable(preprocess) or not isinstance(clip_len, int):
        raise TypeError(
            "reading a videos folder needs a model adapter with clip_len, sampling.indices and "
            f"preprocessing (see videoattr.zoo.wrap); got {describe(model)}. "
            "Pass a Dataset of (clip, target) items instead of a folder for other models."
        )
    return clip_len, sampling, preprocess


class VideoFolder(Dataset[tuple[Tensor, str, str]]):
    """The videos and frame folders directly inside ``root``, as preprocessed clips.

    Item ``i`` is ``(clip, label, id)``: ``clip`` ``(C, T, H, W)`` float32 on the CPU, ``label`` the
    name before the first ``-``, ``id`` the name without its ending made safe as a file name
    (`safe_name`; the whole name when two videos share a stem). Hidden entries are ignored.
    ``sources`` holds each video's path.

    Args:
        root: the folder.
        clip_len: frames per clip ``T``; shorter videos fail with
            [`VideoTooShortError`][videoattr.io.VideoTooShortError] when read.
        sampling: ``n -> frame indices``, e.g. an adapter's ``sampling.indices``.
        preprocess: uint8 frames ``(T, H, W, 3)`` to a normalised clip ``(1, C, T, H, W)``, e.g. an
            adapter's ``preprocessing``.
        exclude: output folders inside ``root`` that are not videos (see `find_videos`).

    Raises:
        FileNotFoundError: ``root`` is not a folder or holds no videos.
        PermissionError: ``root`` cannot be listed.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        clip_len: int,
        sampling: Callable[[int], Sequence[int]],
        preprocess: Preprocess,
        exclude: Sequence[str | Path] = (),
    ) -> None:
        self.root = Path(root)
        self.paths = find_videos(self.root, exclude=exclude)
        self.clip_len = clip_len
        self.sampling = sampling
        self.preprocess = preprocess
        self.labels = [label_of(p) for p in self.paths]
        self.ids = unique_ids(self.paths)
        self.sources = [str(p) for p in self.paths]

    @classmethod
    def for_model(
        cls, root: str | Path, model: Any, *, exclude: Sequence[str | Path] = ()
    ) -> VideoFolder:
        """A folder read with a zoo adapter's clip length, frame sampling and preprocessing
        (``exclude``: output folders to skip, see `find_videos`).

        Raises:
            TypeError: ``model`` is not an adapter (see `adapter_reading`).
        """
        clip_len, sampling, preprocess = adapter_reading(model)
        return cls(
            root, clip_len=clip_len, sampling=sampling, preprocess=preprocess, exclude=exclude
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Tensor, str, str]:
        clip = load_clip(
            self.paths[index],
            clip_len=self.clip_len,
            sampling=self.sampling,
            preprocess=self.preprocess,
        )
        return clip[0].detach().cpu(), self.labels[index], self.ids[index]


def unique_ids(paths: Sequence[Path]) -> list[str]:
    """One safe, unique id per path: its stem (the whole name when stems repeat), made safe.

    Two names that `safe_name` maps to the same id are told apart by a hash of the name.
    """
    stems = [clip_stem(p) for p in paths]
    raw = [s if stems.count(s) == 1 else p.name for s, p in zip(stems, paths, strict=True)]
    ids = [safe_name(r) for r in raw]
    seen: dict[str, int] = {}
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
    out = []
    for r, i in zip(raw, ids, strict=True):
        if seen[i] > 1:
            digest = hashlib.sha1(os.fsencode(r)).hexdigest()[:10]
            i = safe_name(f"{i[: MAX_NAME_LENGTH - 11]}~{digest}")
        out.append(i)
    return out
