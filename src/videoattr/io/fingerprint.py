"""A content fingerprint of a video file or frame folder: [`fingerprint`][videoattr.io.fingerprint.fingerprint].

A dataset run records each source's fingerprint with its result; a resumed run redoes a result
whose source no longer matches it, and ``videoattr render`` refuses to draw it on other frames.

- a file up to 2 MiB: its size and the SHA-256 of all its bytes;
- a larger file: its size, its modification time (ns) and the SHA-256 of its first and last MiB;
- a folder of frame images: the name, size and modification time of every frame image, and the
  SHA-256 of the first and last image.

So a copy of a small video keeps its fingerprint, and replacing a video by other content (even with
the same number of frames) changes it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from videoattr.io.folders import PathLike, list_frame_files

__all__ = ["fingerprint"]

_CHUNK = 1 << 20
#: Files up to this size are hashed whole.
WHOLE_FILE_BYTES = 2 * _CHUNK


def _file_digest(path: Path, h: Any) -> None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= WHOLE_FILE_BYTES:
            h.update(f.read())
            return
        h.update(f.read(_CHUNK))
        f.seek(size - _CHUNK)
        h.update(f.read(_CHUNK))


def fingerprint(path: PathLike) -> str:
    """``"v1:<hex>"``: the fingerprint of a video file or a folder of frame images.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        OSError: it cannot be read.
    """
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        files = list_frame_files(p)
        for f in files:
            st = f.stat()
            h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode(errors="surrogateescape"))
        for f in files[:1] + files[1:][-1:]:
            _file_digest(f, h)
        return f"v1:dir:{h.hexdigest()}"
    st = os.stat(p)
    h.update(str(st.st_size).encode())
    if st.st_size > WHOLE_FILE_BYTES:
        h.update(f":{st.st_mtime_ns}".encode())
    _file_digest(p, h)
    return f"v1:{h.hexdigest()}"
