"""What every still picture of the library can do: Pillow, PNG bytes, Jupyter display, saving."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from torch import Tensor


class Picture:
    """A mixin for classes holding an ``image``: an ``(H, W, 3)`` uint8 tensor (a sheet, a timeline)."""

    image: Tensor

    def to_pil(self) -> Image.Image:
        """The picture as a Pillow image."""
        return Image.fromarray(self.image.numpy())

    def png(self) -> bytes:
        """The picture encoded as PNG."""
        buffer = io.BytesIO()
        self.to_pil().save(buffer, format="PNG")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        """Jupyter's rich display: the picture as a PNG."""
        return self.png()

    def save(self, path: str | Path) -> Path:
        """Write the picture as an image (PNG by default; the file's ending picks the format)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.to_pil().save(p)
        return p
