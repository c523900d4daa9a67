"""Smooth masks from a coarse parameter grid (the extremal-perturbation mask generator).

Every frame of every mask has its own low-resolution grid of parameters ``p`` in ``[0, 1]``. Each grid
point is a radial bump ``k(d) = exp(-2 max(d / sigma - 0.5, 0)^2)`` centred on its upsampled position
(``d`` the distance in pixels); the mask at a pixel is the soft-max pooling
``sum_i v_i softmax(coldness * v)_i`` of ``v_i = p_i k_i`` over the ``(2R + 1)^2`` nearest grid points,
clamped to ``[0, 1]``. The mask lives on a canvas padded by a margin of ``sigma`` pixels on each side; the
padded mask is what area terms see, its ``(H, W)`` crop is what perturbs the input.

The construction (padding, radius, the nearest-neighbour upsampling and the weights) follows the reference
implementation (Li et al., WACV 2021) exactly; [`MaskGenerator.generate_reference`][videoattr.methods.extremal.masks.MaskGenerator.generate_reference] composes it as that
code does, and the default fused pooling computes the same values with a fraction of the memory traffic.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

import videoattr.core.native as native
from videoattr.core.validation import check_positive_int
from videoattr.methods.extremal.pooling import NativeSoftmaxPool, SoftmaxPool, cell_layout

#: Which implementation runs the fused pooling: ``"auto"`` (the native kernel where it applies, else
#: PyTorch operations), ``"native"`` (the native kernel or an error) or ``"pytorch"``.
PoolKernel = Literal["auto", "native", "pytorch"]
POOL_KERNELS: tuple[str, ...] = ("auto", "native", "pytorch")

#: Size of the fused pooling's working tensors per chunk of frames (a few MB: they stay in cache).
POOL_CHUNK_BYTES = 8 * 2**20


def bump(z: Tensor) -> Tensor:
    """The radial profile ``exp(-2 max(z - 0.5, 0)^2)`` of a grid point at normalised distance ``z``."""
    return torch.exp(-2 * (z - 0.5).clamp(min=0) ** 2)


def padded_size(size: int, step: int, sigma: float) -> int:
    """Side ``n_out`` of the padded canvas for a frame side ``size``."""
    padding = 1 + math.ceil(2 * sigma / step)
    radius = 1 + math.ceil(sigma / step)
    return step * (math.ceil(size / step) + 2 * padding - 2 * radius) - step + 1


def canvas_covers(shape: tuple[int, int], step: int, sigma: float) -> bool:
    """Whether the padded canvas holds the frame after a margin of ``round(sigma)`` pixels.

    The reference geometry fails for ``sigma < step / 2`` and for some ``sigma`` just below a multiple of
    ``step`` (e.g. 9 to 10.5 with ``step = 7`` when the frame side is a multiple of 7).
    """
    return all(padded_size(z, step, sigma) >= round(sigma) + z for z in shape)


def covering_sigma(shape: tuple[int, int], step: int, sigma: float) -> float:
    """The smallest ``sigma' >= sigma`` (in steps of 1 pixel) for which [`canvas_covers`][videoattr.methods.extremal.masks.canvas_covers] holds."""
    candidate = float(sigma)
    while not canvas_covers(shape, step, candidate):
        candidate += 1.0
    return candidate


class MaskGenerator:
    """Generate smooth ``(H, W)`` masks from ``(ceil(H / step), ceil(W / step))`` parameter grids.

    Works on any number of leading dimensions: parameters of shape ``(..., h, w)`` (for example
    ``(N, T, h, w)``: one grid per frame per mask) give masks of shape ``(..., H, W)``.

    Args:
        shape: the ``(H, W)`` frame size.
        step: stride ``s`` of the parameter grid in pixels. Default 7.
        sigma: radius scale of a grid point's bump in pixels; also the canvas margin. Default 11.
        coldness: inverse temperature of the soft-max pooling. Default 20.
        clamp: clamp the mask to ``[0, 1]``. Default ``True``.
        fused: pool with the fused [`SoftmaxPool`][videoattr.methods.extremal.pooling.SoftmaxPool] (default)
            rather than the reference implementation's composition ([`generate_reference`][videoattr.methods.extremal.masks.MaskGenerator.generate_reference]); both
            agree up to float rounding.
        kernel: what runs the fused pooling. ``"auto"`` (default): the native kernel
            ([`native`][videoattr.core.native], compiled on first use) for CPU float32/float64
            parameters when it can be built, PyTorch operations otherwise (CUDA, other dtypes, no
            compiler). ``"native"``: the native kernel or an error saying why not. ``"pytorch"``:
            PyTorch operations only. All agree up to float rounding.
        device: where the weights live (move later with [`to`][videoattr.methods.extremal.masks.MaskGenerator.to]).

    Attributes:
        margin: the canvas margin ``M = sigma`` on each side.
        padding: zero padding ``P = 1 + ceil((M + sigma) / s)`` of the parameter grid.
        radius: neighbourhood radius ``R = 1 + ceil(sigma / s)`` in grid points.
        grid_shape: ``(h, w) = (ceil(H / s), ceil(W / s))``, the parameter grid of one frame.
        padded_shape: ``(H', W')``, the size of the padded mask (``n_out`` in the appendix).
        weight: ``((2R + 1)^2, H', W')`` bump weight of every neighbour at every canvas pixel.
        last_kernel: what pooled the last call of [`generate`][videoattr.methods.extremal.masks.MaskGenerator.generate]: ``"native"``, ``"pytorch"`` or
            ``"reference"`` (``None`` before the first call).

    Example:
        >>> gen = MaskGenerator((56, 56), step=7, sigma=11)
        >>> gen.grid_shape, gen.padded_shape
        ((8, 8), (78, 78))
        >>> mask, padded = gen.generate(torch.ones(2, 8, *gen.grid_shape))
        >>> tuple(mask.shape), tuple(padded.shape)
        ((2, 8, 56, 56), (2, 8, 78, 78))
    """

    def __init__(
        self,
        shape: tuple[int, int],
        step: int = 7,
        sigma: float = 11.0,
        *,
        coldness: float = 20.0,
        clamp: bool = True,
        fused: bool = True,
        kernel: PoolKernel = "auto",
        device: torch.device | str | None = None,
    ) -> None:
        height = check_positive_int(shape[0], "shape[0] (mask height)")
        width = check_positive_int(shape[1], "shape[1] (mask width)")
        self.step = check_positive_int(step, "step")
        if not (isinstance(sigma, (int, float)) and not isinstance(sigma, bool)) or not sigma > 0:
            raise ValueError(f"sigma must be a positive number of pixels; got {sigma!r}")
        if kernel not in POOL_KERNELS:
            raise ValueError(f"kernel must be one of {POOL_KERNELS}; got {kernel!r}")
        self.kernel: PoolKernel = kernel
        self.last_kernel: str | None = None
        self.shape = (height, width)
        self.sigma = float(sigma)
        self.coldness = float(coldness)
        self.clamp = bool(clamp)
        self.margin = self.sigma
        self.padding = 1 + math.ceil((self.margin + self.sigma) / self.step)
        self.radius = 1 + math.ceil(self.sigma / self.step)
        grid = [math.ceil(z / self.step) for z in self.shape]
        self.grid_shape: tuple[int, int] = (grid[0], grid[1])
        mid = [z + 2 * self.padding - 2 * self.radius for z in self.grid_shape]
        self.mid_shape: tuple[int, int] = (mid[0], mid[1])
        self.up_shape: tuple[int, int] = (self.step * mid[0], self.step * mid[1])
        self.padded_shape: tuple[int, int] = (
            self.up_shape[0] - self.step + 1,
            self.up_shape[1] - self.step + 1,
        )
        if not canvas_covers(self.shape, self.step, self.sigma):
            raise ValueError(
                f"sigma={self.sigma} does not suit step={self.step} for {self.shape} frames: the padded "
                f"canvas {self.padded_shape} does not hold the frame with a margin of sigma; try "
                f"sigma={covering_sigma(self.shape, self.step, self.sigma)} (see covering_sigma)"
            )
        self.weight = self._weights(self.padded_shape).to(device)
        self.cell_weight = self._cell_weights() if fused else None
        if self.cell_weight is not None:
            self.cell_weight = self.cell_weight.to(device)

    @property
    def crop_offset(self) -> int:
        """First row/column of the padded canvas that belongs to the frame (``round(margin)``)."""
        return round(self.margin)

    def _weights(self, canvas: tuple[int, int]) -> Tensor:
        """``((2R+1)^2, *canvas)`` bump weights, computed exactly as the reference implementation does."""
        # Float32 on the CPU, as in the reference, so that every device gets the same weights.
        size = 2 * self.radius + 1
        inv = [
            torch.tensor(m, dtype=torch.float32) / torch.tensor(u, dtype=torch.float32)
            for m, u in zip(self.mid_shape, self.up_shape, strict=True)
        ]
        uy = torch.arange(canvas[0], dtype=torch.float32).view(-1, 1)
        ux = torch.arange(canvas[1], dtype=torch.float32).view(1, -1)
        ky = torch.arange(size, dtype=torch.float32).view(-1, 1, 1, 1)
        kx = torch.arange(size, dtype=torch.float32).view(1, -1, 1, 1)
        iy = torch.floor(inv[0] * uy) + ky - self.padding
        ix = torch.floor(inv[1] * ux) + kx - self.padding
        dist = torch.sqrt(
            (uy - (self.margin + self.step * iy)) ** 2 + (ux - (self.margin + self.step * ix)) ** 2
        )
        return bump(dist / self.sigma).reshape(size * size, *canvas)

    def _cell_weights(self) -> Tensor | None:
        """Weights for [`SoftmaxPool`][videoattr.methods.extremal.pooling.SoftmaxPool] (see [`cell_layout`][videoattr.methods.extremal.pooling.cell_layout]), or ``None``.

        The fused pooling needs the nearest upsampling to map canvas pixel ``u`` to grid cell ``u // s``
        (what ``F.interpolate`` computes for an integer factor, checked here on this geometry); the
        weights then repeat from cell to cell, and a single cell's table is kept when they do so exactly.
        """
        s = self.step
        mh, mw = self.mid_shape
        probe = torch.arange(mh * mw, dtype=torch.float32).view(1, 1, mh, mw)
        up = F.interpolate(probe, size=self.up_shape, mode="nearest")[0, 0]
        cells = torch.arange(mh * mw, dtype=torch.float32).view(mh, 1, mw, 1)
        if not torch.equal(up.view(mh, s, mw, s), cells.expand(mh, s, mw, s)):
            return None
        full = self._weights(self.up_shape).view(-1, mh, s, mw, s)
        first = full[:, :1, :, :1, :]
        return cell_layout(first if torch.equal(full, first.expand_as(full)) else full)

    def to(self, device: torch.device | str) -> MaskGenerator:
        """Move the weights to ``device`` (in place) and return ``self``."""
        self.weight = self.weight.to(device)
        if self.cell_weight is not None:
            self.cell_weight = self.cell_weight.to(device)
        return self

    def init_params(self, *leading: int, device: torch.device | str | None = None) -> Tensor:
        """Parameters initialised to 1, shape ``(*leading, h, w)`` (the reference initialisation)."""
        return torch.ones(*leading, *self.grid_shape, device=device)

    def generate(self, params: Tensor) -> tuple[Tensor, Tensor]:
        """Generate masks from parameter grids.

        Args:
            params: ``(..., h, w)`` parameters with ``(h, w) = grid_shape``.

        Returns:
            ``(mask, padded)``: the ``(..., H, W)`` mask that perturbs the input and the
            ``(..., H', W')`` padded mask (``padded_shape``) that the area terms use.
        """
        if params.dim() < 2 or tuple(params.shape[-2:]) != self.grid_shape:
            raise ValueError(
                f"params must have shape (..., {self.grid_shape[0]}, {self.grid_shape[1]}); got "
                f"{tuple(params.shape)}"
            )
        leading = params.shape[:-2]
        if self.cell_weight is not None and self._native_applies(params):
            canvas = NativeSoftmaxPool.apply(
                params.reshape(-1, *self.grid_shape),
                self.cell_weight,
                self.padding,
                2 * self.radius + 1,
                self.mid_shape,
                self.coldness,
            )
            padded = canvas[:, : self.padded_shape[0], : self.padded_shape[1]]
            self.last_kernel = "native"
        elif self.cell_weight is not None:
            flat = params.reshape(-1, *self.grid_shape)
            # Frames in chunks whose (K, s, s, rows, Mh, Mw) working tensors stay in the CPU's cache:
            # each row's arithmetic is the same whatever the chunk, so the masks are too.
            k, s = self.cell_weight.shape[0], self.step
            row_bytes = k * s * s * self.mid_shape[0] * self.mid_shape[1] * flat.element_size()
            rows = max(1, POOL_CHUNK_BYTES // row_bytes)
            canvas = torch.cat(
                [
                    SoftmaxPool.apply(
                        chunk,
                        self.cell_weight,
                        self.padding,
                        2 * self.radius + 1,
                        self.mid_shape,
                        self.coldness,
                    )
                    for chunk in torch.split(flat, rows)
                ]
            )
            padded = canvas[:, : self.padded_shape[0], : self.padded_shape[1]]
            self.last_kernel = "pytorch"
        else:
            padded = self.generate_reference(params.reshape(-1, *self.grid_shape))
            self.last_kernel = "reference"
        if self.clamp:
            padded = padded.clamp(0, 1)
        m = self.crop_offset
        mask = padded[:, m : m + self.shape[0], m : m + self.shape[1]]
        return mask.reshape(*leading, *self.shape), padded.reshape(*leading, *self.padded_shape)

    def _native_applies(self, params: Tensor) -> bool:
        """Whether the native kernel pools ``params`` (raises for ``kernel="native"`` when it cannot)."""
        assert self.cell_weight is not None
        unsuitable = None
        if not (
            params.device.type == "cpu"
            and self.cell_weight.device.type == "cpu"
            and params.dtype in native.DTYPES
        ):
            unsuitable = (
                "pools CPU float32/float64 parameters with the generator on the CPU; got "
                f"{params.dtype} parameters on {params.device}, the generator on "
                f"{self.cell_weight.device}"
            )
        elif tuple(self.cell_weight.shape[-2:]) != (1, 1):
            unsuitable = (
                f"needs bump weights that repeat from cell to cell; step={self.step}, "
                f"sigma={self.sigma} on {self.shape} frames do not"
            )
        return native.use(self.kernel, unsuitable)

    def generate_reference(self, params: Tensor) -> Tensor:
        """The padded masks ``(N, H', W')`` of ``(N, h, w)`` grids, composed as the reference does.

        Unfold of the neighbourhoods, nearest upsampling, bump weights and soft-max pooling as separate
        autograd operations (unclamped). [`generate`][videoattr.methods.extremal.masks.MaskGenerator.generate] uses the fused [`SoftmaxPool`][videoattr.methods.extremal.pooling.SoftmaxPool] instead
        whenever the geometry allows; both agree up to float rounding.
        """
        flat = params.reshape(-1, 1, *self.grid_shape)
        size = 2 * self.radius + 1
        # Neighbourhood of every grid point, with zero padding: (n, (2R+1)^2, mid_h, mid_w).
        v = F.unfold(flat, (size, size), padding=(self.padding, self.padding))
        v = v.view(flat.shape[0], size * size, *self.mid_shape)
        # Nearest-neighbour upsampling by the integer factor `step`, then drop the last step - 1.
        v = F.interpolate(v, size=self.up_shape, mode="nearest")
        v = v[:, :, : self.padded_shape[0], : self.padded_shape[1]] * self.weight.to(v.dtype)
        return (v * torch.softmax(self.coldness * v, dim=1)).sum(dim=1)

    def __repr__(self) -> str:
        return (
            f"MaskGenerator(shape={self.shape}, step={self.step}, sigma={self.sigma}, "
            f"grid_shape={self.grid_shape}, padded_shape={self.padded_shape})"
        )
