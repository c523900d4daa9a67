"""Synthetic labelled clips with pixel-exact spatio-temporal ground truth.

Every clip shows a textured background that pans (a moving camera), a few distractor objects that move
in random directions, and one *evidence object*: a red square whose direction of motion decides the class.
Because the class depends on motion, a single frame does not determine it; because distractors move too,
motion alone does not say where the evidence is. The ground-truth mask is the set of pixels covered by the
evidence object, frame by frame.

Evidence layouts (``evidence=``):

* ``"full"``: the evidence object is visible in every frame;
* ``"partial"``: it is visible in one window of ``T/4`` to ``T/2`` consecutive frames, the other frames
  show only the background and distractors, so temporal localisation matters;
* ``"half"``: it is visible in exactly the first or the second half of the clip (the synthetic form of the
  published protocol that joins two clips and asks which half the attribution points at);
* ``"mixed"`` (default): each clip is ``"full"`` or ``"partial"`` with probability 1/2.

Generation is deterministic: clip ``i`` of a dataset depends only on ``(seed, i)`` and the options, never on
the global random state or on which clips were drawn before. Labels are ``i % num_classes``, so any
``num_classes`` consecutive indices hold every class once.

Example:
    >>> data = SyntheticMotion(num_classes=4, clip_len=16, size=56, seed=0)
    >>> batch = data.sample(8)
    >>> batch.clips.shape, batch.masks.shape, batch.labels.tolist()
    (torch.Size([8, 3, 16, 56, 56]), torch.Size([8, 1, 16, 56, 56]), [0, 1, 2, 3, 0, 1, 2, 3])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from videoattr.core.validation import check_choice, check_positive_int

Evidence = Literal["full", "partial", "half", "mixed"]
EVIDENCE_LAYOUTS: tuple[str, ...] = ("full", "partial", "half", "mixed")

#: Per-channel mean and std used to normalise the synthetic frames (values in ``[0, 1]``).
MEAN: tuple[float, float, float] = (0.45, 0.45, 0.45)
STD: tuple[float, float, float] = (0.25, 0.25, 0.25)

_DIRECTION_NAMES = {
    0: "right",
    45: "down-right",
    90: "down",
    135: "down-left",
    180: "left",
    225: "up-left",
    270: "up",
    315: "up-right",
}
_SUPPORTED_CLASSES = (2, 4, 8)
# Distractor colours: saturated but never red, so the evidence object is identified by its colour.
_DISTRACTOR_COLOURS = (
    (0.15, 0.35, 0.95),
    (0.15, 0.85, 0.25),
    (0.95, 0.90, 0.15),
    (0.15, 0.85, 0.90),
    (0.95, 0.95, 0.95),
    (0.60, 0.25, 0.90),
)
_EVIDENCE_COLOUR = (0.92, 0.12, 0.10)


@dataclass(frozen=True)
class SyntheticSample:
    """One rendered clip.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 frames (for io, visualisation and the command line).
        mask: ``(1, T, H, W)`` bool ground truth: the evidence object's pixels.
        label: the class index.
        evidence_frames: ``(T,)`` bool, the frames in which the evidence object is visible.
    """

    frames: Tensor
    mask: Tensor
    label: int
    evidence_frames: Tensor


@dataclass(frozen=True)
class SyntheticBatch:
    """A batch of ``N`` clips.

    Attributes:
        clips: ``(N, 3, T, H, W)`` float32 clips normalised with the dataset's mean and std.
        labels: ``(N,)`` long class indices.
        masks: ``(N, 1, T, H, W)`` bool ground truth.
        frames: ``(N, T, H, W, 3)`` uint8 frames (the un-normalised view of ``clips``).
        evidence_frames: ``(N, T)`` bool, frames where the evidence object is visible.
        partial: ``(N,)`` bool, ``True`` for clips whose evidence occupies only some frames.
    """

    clips: Tensor
    labels: Tensor
    masks: Tensor
    frames: Tensor
    evidence_frames: Tensor
    partial: Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> SyntheticBatch:
        """Return the batch with every tensor moved to ``device``."""
        return SyntheticBatch(
            self.clips.to(device),
            self.labels.to(device),
            self.masks.to(device),
            self.frames.to(device),
            self.evidence_frames.to(device),
            self.partial.to(device),
        )


def _item_seed(seed: int, index: int) -> int:
    """A 62-bit seed for clip ``index`` that mixes ``seed`` and ``index`` (splitmix64 finaliser)."""
    z = (seed * 0x9E3779B97F4A7C15 + index + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x3FFFFFFFFFFFFFFF


def _uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def _randint(g: torch.Generator, low: int, high: int) -> int:
    """Uniform integer in ``[low, high]`` (inclusive)."""
    return int(torch.randint(low, high + 1, (), generator=g))


def _reflect(pos: Tensor, low: float, high: float) -> Tensor:
    """Fold positions into ``[low, high]`` by reflection at the borders (objects bounce)."""
    span = high - low
    p = torch.remainder(pos - low, 2 * span)
    return low + torch.where(p > span, 2 * span - p, p)


class SyntheticMotion(Dataset[tuple[Tensor, int, Tensor]]):
    """Clips whose class is the direction of motion of one red square among moving distractors.

    Indexing returns ``(clip, label, mask)`` with ``clip`` a ``(3, T, H, W)`` float32 normalised clip and
    ``mask`` a ``(1, T, H, W)`` bool ground truth, so the dataset works with ``DataLoader``;
    [`sample`][videoattr.datasets.synthetic.SyntheticMotion.sample] returns a whole [`SyntheticBatch`][videoattr.datasets.synthetic.SyntheticBatch], and [`render`][videoattr.datasets.synthetic.SyntheticMotion.render] the uint8 frames of one clip.

    Args:
        num_classes: number of motion directions, 2 (right, left), 4 (right, down, left, up) or 8
            (the four diagonals added). Default 4.
        clip_len: frames per clip ``T``. Default 16.
        size: frame height and width ``H = W`` in pixels; object sizes and speeds scale with it. Default 56.
        length: number of clips the dataset reports for ``len()``; any index ``>= 0`` can be rendered.
            Default 1000.
        seed: the seed of the draw; two datasets with different seeds are independent draws.
        evidence: ``"full"``, ``"partial"``, ``"half"`` or ``"mixed"`` (see the module docstring).
        num_distractors: moving distractor objects per clip. Default 3.
        noise: standard deviation of per-pixel noise on frames in ``[0, 1]``. Default 0.02.
        mean: per-channel mean used for normalisation. Default `MEAN`.
        std: per-channel std used for normalisation. Default `STD`.
    """

    def __init__(
        self,
        num_classes: int = 4,
        clip_len: int = 16,
        size: int = 56,
        *,
        length: int = 1000,
        seed: int = 0,
        evidence: Evidence = "mixed",
        num_distractors: int = 3,
        noise: float = 0.02,
        mean: tuple[float, float, float] = MEAN,
        std: tuple[float, float, float] = STD,
    ) -> None:
        check_choice(num_classes, "num_classes", _SUPPORTED_CLASSES)
        self.num_classes = num_classes
        self.clip_len = check_positive_int(clip_len, "clip_len", minimum=4)
        self.size = check_positive_int(size, "size", minimum=16)
        self.length = check_positive_int(length, "length")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int; got {seed!r}")
        self.seed = seed
        check_choice(evidence, "evidence", EVIDENCE_LAYOUTS)
        self.evidence: Evidence = evidence
        self.num_distractors = check_positive_int(num_distractors, "num_distractors", minimum=0)
        if not (0.0 <= noise < 0.5):
            raise ValueError(f"noise must lie in [0, 0.5); got {noise}")
        self.noise = float(noise)
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ValueError(
                f"mean and std must be 3 values with std > 0; got mean={mean}, std={std}"
            )
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    @property
    def class_names(self) -> list[str]:
        """Names of the classes, e.g. ``["right", "down", "left", "up"]`` for 4 classes."""
        return [
            _DIRECTION_NAMES[round(360 * k / self.num_classes)] for k in range(self.num_classes)
        ]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, int, Tensor]:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        sample = self.render(index)
        return self.normalize(sample.frames.unsqueeze(0))[0], sample.label, sample.mask

    def normalize(self, frames: Tensor) -> Tensor:
        """Turn ``(N, T, H, W, 3)`` uint8 frames into ``(N, 3, T, H, W)`` float32 normalised clips."""
        x = frames.permute(0, 4, 1, 2, 3).float() / 255.0
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1, 1)
        return (x - mean) / std

    def sample(self, n: int, start: int = 0) -> SyntheticBatch:
        """Render clips ``start, ..., start + n - 1`` as one batch (on the CPU).

        Args:
            n: number of clips.
            start: index of the first clip; disjoint ranges give disjoint clips. Default 0.
        """
        n = check_positive_int(n, "n")
        start = check_positive_int(start, "start", minimum=0)
        samples = [self.render(start + i) for i in range(n)]
        frames = torch.stack([s.frames for s in samples])
        evidence_frames = torch.stack([s.evidence_frames for s in samples])
        return SyntheticBatch(
            clips=self.normalize(frames),
            labels=torch.tensor([s.label for s in samples], dtype=torch.long),
            masks=torch.stack([s.mask for s in samples]),
            frames=frames,
            evidence_frames=evidence_frames,
            partial=~evidence_frames.all(dim=1),
        )

    # -- rendering -------------------------------------------------------------------------------------
    def render(self, index: int) -> SyntheticSample:
        """Render clip ``index`` (any ``index >= 0``); the result depends only on ``(seed, index)``."""
        g = torch.Generator().manual_seed(_item_seed(self.seed, index))
        t_len, size = self.clip_len, self.size
        label = index % self.num_classes
        scale = size / 56.0

        ys = torch.arange(size, dtype=torch.float32).view(1, size, 1) + 0.5
        xs = torch.arange(size, dtype=torch.float32).view(1, 1, size) + 0.5
        t = torch.arange(t_len, dtype=torch.float32).view(t_len, 1, 1)

        rgb = self._background(g)  # (T, H, W, 3)

        for _ in range(self.num_distractors):
            radius = _uniform(g, 3.0, 5.5) * scale
            angle = _uniform(g, 0.0, 2 * math.pi)
            speed = _uniform(g, 0.8, 2.2) * scale
            cy0, cx0 = _uniform(g, radius, size - radius), _uniform(g, radius, size - radius)
            cy = _reflect(cy0 + speed * math.sin(angle) * t, radius, size - radius)
            cx = _reflect(cx0 + speed * math.cos(angle) * t, radius, size - radius)
            dy, dx = ys - cy, xs - cx
            if _randint(g, 0, 1) == 0:  # disc
                inside = dy**2 + dx**2 <= radius**2
            else:  # diamond
                inside = dy.abs() + dx.abs() <= radius * 1.25
            colour = torch.tensor(_DISTRACTOR_COLOURS[_randint(g, 0, len(_DISTRACTOR_COLOURS) - 1)])
            rgb = torch.where(inside.unsqueeze(-1), colour, rgb)

        visible = self._evidence_window(g)
        first = int(visible.nonzero()[0])
        n_visible = int(visible.sum())
        half = _uniform(g, 4.0, 5.5) * scale  # half side of the square
        angle = 2 * math.pi * label / self.num_classes
        speed = _uniform(g, 1.3, 2.2) * scale
        room = size - 2 * half - 2.0
        speed = min(speed, room / max(n_visible - 1, 1))
        travel_y = speed * math.sin(angle) * (n_visible - 1)
        travel_x = speed * math.cos(angle) * (n_visible - 1)
        cy0 = _uniform(g, half + 1 + max(0.0, -travel_y), size - half - 1 - max(0.0, travel_y))
        cx0 = _uniform(g, half + 1 + max(0.0, -travel_x), size - half - 1 - max(0.0, travel_x))
        steps = (t - first).clamp(min=0)
        cy = cy0 + speed * math.sin(angle) * steps
        cx = cx0 + speed * math.cos(angle) * steps
        square = ((ys - cy).abs() <= half) & ((xs - cx).abs() <= half) & visible.view(t_len, 1, 1)
        colour = torch.tensor(_EVIDENCE_COLOUR) + 0.05 * (torch.rand(3, generator=g) - 0.5)
        rgb = torch.where(square.unsqueeze(-1), colour, rgb)

        if self.noise > 0:
            rgb = rgb + self.noise * torch.randn(rgb.shape, generator=g)
        frames = (rgb.clamp(0, 1) * 255).round().to(torch.uint8)
        return SyntheticSample(
            frames=frames, mask=square.unsqueeze(0), label=label, evidence_frames=visible
        )

    def _background(self, g: torch.Generator) -> Tensor:
        """A smooth two-colour texture panning with a constant velocity: ``(T, H, W, 3)`` in ``[0, 1]``."""
        t_len, size = self.clip_len, self.size
        cells = max(4, size // 7)
        coarse = torch.rand(1, 1, cells, cells, generator=g).repeat(
            1, 1, 3, 3
        )  # tiled: periodic texture
        texture = F.interpolate(
            coarse, size=(6 * size, 6 * size), mode="bicubic", align_corners=False
        )
        texture = texture[0, 0, 2 * size : 4 * size, 2 * size : 4 * size].clamp(0, 1)
        base = torch.rand(3, generator=g) * 0.3 + 0.3
        tint = torch.rand(3, generator=g) * 0.2 - 0.1
        dark, light = base - 0.15, base + 0.15 + tint
        # keep the background away from the evidence colour: red may not dominate green and blue
        for c in (dark, light):
            c[0] = torch.minimum(c[0], c[1:].max() + 0.05)
        vy, vx = _uniform(g, -1.0, 1.0) * size / 56, _uniform(g, -1.0, 1.0) * size / 56
        oy, ox = _randint(g, 0, 2 * size - 1), _randint(g, 0, 2 * size - 1)
        frames = []
        for k in range(t_len):
            shifted = torch.roll(
                texture, shifts=(oy + round(vy * k), ox + round(vx * k)), dims=(0, 1)
            )
            frames.append(shifted[:size, :size])
        tex = torch.stack(frames).unsqueeze(-1)  # (T, H, W, 1)
        return dark * (1 - tex) + light * tex

    def _evidence_window(self, g: torch.Generator) -> Tensor:
        """``(T,)`` bool: the frames in which the evidence object is visible."""
        t_len = self.clip_len
        layout = self.evidence
        if layout == "mixed":
            layout = "full" if _randint(g, 0, 1) == 0 else "partial"
        visible = torch.zeros(t_len, dtype=torch.bool)
        if layout == "full":
            visible[:] = True
        elif layout == "half":
            if _randint(g, 0, 1) == 0:
                visible[: t_len // 2] = True
            else:
                visible[t_len // 2 :] = True
        else:
            length = _randint(g, max(2, t_len // 4), max(2, t_len // 2))
            start = _randint(g, 0, t_len - length)
            visible[start : start + length] = True
        return visible
