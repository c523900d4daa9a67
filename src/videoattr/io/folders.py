"""Folders of frame images: listing them in natural order, and writing frames as images."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from videoattr.io.errors import VideoReadError
from videoattr.io.frames import as_frames

__all__ = ["FRAME_EXTENSIONS", "PathLike", "list_frame_files", "write_frames"]

PathLike = str | Path

FRAME_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")
"""File name endings (case-insensitive) of the frame images a folder source may hold."""


def _natural_key(path: Path) -> list[tuple[int, int | str]]:
    parts = re.split(r"(\d+)", path.name.lower())
    return [(0, int(p)) if p.isdigit() else (1, p) for p in parts if p]


def list_frame_files(folder: PathLike) -> list[Path]:
    """The frame images of ``folder`` ([`FRAME_EXTENSIONS`][videoattr.io.FRAME_EXTENSIONS]), in natural order of their names.

    ``frame_2.png`` comes before ``frame_10.png``.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"frame folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a folder of frame images; {root} is a file")
    files = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS]
    return sorted(files, key=_natural_key)


#: Pillow's 16-bit grey modes: scaled to 8 bits (``round(v * 255 / 65535)``), never clipped.
_GREY16 = ("I;16", "I;16L", "I;16B", "I;16N")


def to_rgb(image: Image.Image) -> np.ndarray:
    """A Pillow image as an RGB ``uint8`` array ``(H, W, 3)``.

    16-bit grey images (``I;16``) are scaled from ``[0, 65535]`` to ``[0, 255]``; 32-bit integer
    (``I``) and floating-point (``F``) images, whose range is unknown, are refused.

    Raises:
        ValueError: an ``I`` or ``F`` image (names the mode).
    """
    if image.mode in _GREY16:
        grey = np.asarray(image).astype(np.uint32)
        small = ((grey * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(small[..., None], 3, axis=-1)
    if image.mode in ("I", "F"):
        raise ValueError(
            f"frame image mode {image.mode!r} (32-bit integer or float pixels) has no known "
            "range: save the frames as 8- or 16-bit images"
        )
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def read_frame_images(files: Sequence[Path], folder: Path) -> np.ndarray:
    """Decode frame images ``files`` of ``folder`` into ``(T, H, W, 3)`` uint8 frames."""
    frames: list[np.ndarray] = []
    for f in files:
        try:
            with Image.open(f) as im:
                frame = to_rgb(im)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
            raise VideoReadError(f"could not decode frame image {f}: {err}") from err
        if frames and frame.shape != frames[0].shape:
            raise VideoReadError(
                f"frame images of {folder} differ in size: {files[0].name} is "
                f"{frames[0].shape[1]}x{frames[0].shape[0]} (WxH) but {f.name} is "
                f"{frame.shape[1]}x{frame.shape[0]}"
            )
        frames.append(frame)
    return np.stack(frames)


def numpy_frames(frames: object) -> np.ndarray:
    """Validated uint8 frames ``(T, H, W, 3)`` as a contiguous numpy array on the CPU."""
    x = as_frames(frames)
    array: np.ndarray = np.ascontiguousarray(x.detach().cpu().numpy())
    return array


def write_frames(
    folder: PathLike,
    frames: Tensor | np.ndarray,
    *,
    prefix: str = "frame_",
    ext: str = "png",
    overwrite: bool = False,
) -> list[Path]:
    """Write uint8 frames as numbered images ``{prefix}{i:05d}.{ext}`` (``i`` from 0) in ``folder``.

    [`read_video`][videoattr.io.read_video] reads such a folder back in the same order (PNG is lossless;
    JPEG is written at quality 95).

    Args:
        folder: output folder; created with its parents when missing.
        frames: uint8 ``(T, H, W, 3)`` (or grey ``(T, H, W)``) tensor or array.
        prefix: file name prefix. Default ``"frame_"``.
        ext: ``"png"`` (default), ``"jpg"``, ``"jpeg"`` or ``"bmp"``.
        overwrite: if the folder already holds frame images, ``False`` (default) raises
            ``FileExistsError`` (mixing two clips would corrupt the read-back); ``True`` deletes
            those images (only files ending in [`FRAME_EXTENSIONS`][videoattr.io.FRAME_EXTENSIONS]) first.

    Returns:
        The written paths, in frame order.

    Raises:
        ValueError: an unknown ``ext``, or a ``prefix`` holding a path separator.
        FileExistsError: the folder holds frame images and ``overwrite`` is ``False``.
    """
    ending = "." + ext.lower().lstrip(".")
    if ending not in FRAME_EXTENSIONS:
        raise ValueError(f"ext must be one of {[e[1:] for e in FRAME_EXTENSIONS]}; got {ext!r}")
    if "/" in prefix or "\\" in prefix or prefix in (".", ".."):
        raise ValueError(
            f"prefix must be a plain file name prefix without separators; got {prefix!r}"
        )
    array = numpy_frames(frames)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    existing = list_frame_files(root)
    if existing:
        if not overwrite:
            raise FileExistsError(
                f"{root} already holds {len(existing)} frame images; pass overwrite=True to "
                "replace them or choose an empty folder"
            )
        for f in existing:
            f.unlink()
    digits = max(5, len(str(len(array) - 1)))
    paths = []
    for i, frame in enumerate(array):
        target = root / f"{prefix}{i:0{digits}d}{ending}"
        image = Image.fromarray(frame)
        if ending in (".jpg", ".jpeg"):
            image.save(target, quality=95)
        else:
            image.save(target)
        paths.append(target)
    return paths
