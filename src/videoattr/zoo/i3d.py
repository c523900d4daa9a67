"""I3D (Carreira & Zisserman, CVPR 2017): Inception-v1 inflated to 3-D, in the widely used PyTorch key layout.

The state-dict keys are those of the PyTorch port of DeepMind's Kinetics-400 RGB checkpoint in
https://github.com/hassony2/kinetics_i3d_pytorch (``model/model_rgb.pth``, the file the reference
implementation (Li et al., WACV 2021) calls ``kinetics400_rgb_i3d.pth``):
``conv3d_1a_7x7.conv3d.weight``, ``conv3d_1a_7x7.batch3d.running_mean``,
``mixed_4b.branch_1.1.conv3d.weight``, ..., ``conv3d_0c_1x1.conv3d.bias``. Convolutions and max-pools pad
like TensorFlow's ``"SAME"`` for their kernel and stride (``max(k - s, 0)`` split with the extra pixel
after), zero padding before the pools as in that port.

The final average pool uses a ``(2, 7, 7)`` window (stride 1) as in the original, shrunk to the feature
map when a clip is smaller than 16 x 224 x 224, so the network also runs on small test clips.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoattr.zoo.adapter import VideoAdapter
from videoattr.zoo.registry import ZooEntry, register
from videoattr.zoo.torchvision_models import kinetics400_classes
from videoattr.zoo.weights import load_state_dict_checked, read_state_dict

PUBLISHED = (
    "the Kinetics-400 RGB I3D weights ported to PyTorch are model/model_rgb.pth in "
    "https://github.com/hassony2/kinetics_i3d_pytorch"
)
SEED_MEAN = (0.43216, 0.394666, 0.37645)
SEED_STD = (0.22803, 0.22145, 0.216989)

Triple = tuple[int, int, int]


def _same_padding(kernel: Triple, stride: Triple) -> tuple[int, int, int, int, int, int]:
    """``F.pad`` amounts (W, H, T order; before/after) of TensorFlow's static ``"SAME"`` padding."""
    pads: list[int] = []
    for k, s in zip(reversed(kernel), reversed(stride), strict=True):
        total = max(k - s, 0)
        pads += [total // 2, total - total // 2]
    return (pads[0], pads[1], pads[2], pads[3], pads[4], pads[5])


class Unit3D(nn.Module):
    """Conv3d (``conv3d``) + BatchNorm3d (``batch3d``) + ReLU with ``"SAME"`` padding."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        *,
        relu: bool = True,
        bias: bool = False,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.pad = _same_padding(kernel, stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, bias=bias)
        self.batch3d = nn.BatchNorm3d(out_channels) if batch_norm else None
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        if any(self.pad):
            x = F.pad(x, self.pad)
        x = self.conv3d(x)
        if self.batch3d is not None:
            x = self.batch3d(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    """Max-pool with ``"SAME"`` zero padding and ``ceil_mode``, as in the port."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.pad = _same_padding(kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool3d(F.pad(x, self.pad), self.kernel, self.stride, ceil_mode=True)


class Mixed(nn.Module):
    """Inception block: 1x1, 1x1-3x3, 1x1-3x3 and pool-1x1 branches concatenated on channels.

    Args:
        in_channels: input channels.
        widths: ``(b0, b1a, b1b, b2a, b2b, b3)`` output channels of the six convolutions.
    """

    def __init__(self, in_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = widths
        self.branch_0 = Unit3D(in_channels, b0)
        self.branch_1 = nn.Sequential(Unit3D(in_channels, b1a), Unit3D(b1a, b1b, (3, 3, 3)))
        self.branch_2 = nn.Sequential(Unit3D(in_channels, b2a), Unit3D(b2a, b2b, (3, 3, 3)))
        self.branch_3 = nn.Sequential(MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(in_channels, b3))
        self.out_channels = b0 + b1b + b2b + b3

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], dim=1
        )


class I3D(nn.Module):
    """Inflated Inception-v1: clips ``(B, 3, T, H, W)`` to logits ``(B, K)``.

    Args:
        num_classes: ``K``. Default 400 (Kinetics-400).
        dropout: dropout before the logits (identity in eval mode). Default 0.
        in_channels: 3 for RGB (2 for the optical-flow stream).
    """

    def __init__(self, num_classes: int = 400, dropout: float = 0.0, in_channels: int = 3) -> None:
        super().__init__()
        self.conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.maxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.conv3d_2b_1x1 = Unit3D(64, 64)
        self.conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.maxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.mixed_3b = Mixed(192, (64, 96, 128, 16, 32, 32))
        self.mixed_3c = Mixed(256, (128, 128, 192, 32, 96, 64))
        self.maxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.mixed_4b = Mixed(480, (192, 96, 208, 16, 48, 64))
        self.mixed_4c = Mixed(512, (160, 112, 224, 24, 64, 64))
        self.mixed_4d = Mixed(512, (128, 128, 256, 24, 64, 64))
        self.mixed_4e = Mixed(512, (112, 144, 288, 32, 64, 64))
        self.mixed_4f = Mixed(528, (256, 160, 320, 32, 128, 128))
        self.maxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.mixed_5b = Mixed(832, (256, 160, 320, 32, 128, 128))
        self.mixed_5c = Mixed(832, (384, 192, 384, 48, 128, 128))
        self.dropout = nn.Dropout(dropout)
        self.conv3d_0c_1x1 = Unit3D(1024, num_classes, relu=False, bias=True, batch_norm=False)

    def features(self, x: Tensor) -> Tensor:
        """The ``mixed_5c`` feature map ``(B, 1024, T/8, H/32, W/32)``."""
        for module in (
            self.conv3d_1a_7x7,
            self.maxPool3d_2a_3x3,
            self.conv3d_2b_1x1,
            self.conv3d_2c_3x3,
            self.maxPool3d_3a_3x3,
            self.mixed_3b,
            self.mixed_3c,
            self.maxPool3d_4a_3x3,
            self.mixed_4b,
            self.mixed_4c,
            self.mixed_4d,
            self.mixed_4e,
            self.mixed_4f,
            self.maxPool3d_5a_2x2,
            self.mixed_5b,
            self.mixed_5c,
        ):
            x = module(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, K)``: average pool ``(2, 7, 7)`` (stride 1), 1x1x1 logits, mean over the rest."""
        f = self.features(x)
        window = (min(2, f.shape[2]), min(7, f.shape[3]), min(7, f.shape[4]))
        f = F.avg_pool3d(f, window, stride=1)
        logits: Tensor = self.conv3d_0c_1x1(self.dropout(f))
        return logits.mean(dim=(2, 3, 4))


def load_i3d(
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    *,
    clip_len: int = 16,
    size: int = 224,
    mean: Sequence[float] = SEED_MEAN,
    std: Sequence[float] = SEED_STD,
) -> VideoAdapter:
    """I3D adapter (Grad-CAM layer ``model.mixed_5c``).

    Args:
        weights: ``None`` (random) or a local state dict in the port's key layout.
        num_classes: default 400 (Kinetics-400, with class names in the alphabetical order of the
            Kinetics label list).
        clip_len: frames per clip. Default 16 (the reference implementation's setting).
        size: input size. Default 224.
        mean: normalisation mean; default the reference implementation's (as for
            R(2+1)D). DeepMind trained on inputs
            scaled to ``[-1, 1]``, which is ``mean = std = (0.5, 0.5, 0.5)``.
        std: normalisation std; default the reference implementation's.

    Raises:
        FileNotFoundError: ``weights`` does not exist (names where the port is published).
        ValueError: the weights do not match (lists the keys).
    """
    kinetics = kinetics400_classes()
    k = len(kinetics) if num_classes is None else int(num_classes)
    net = I3D(k)
    if weights is not None:
        state = read_state_dict(weights, published=PUBLISHED)
        load_state_dict_checked(net, state, source=f"I3D weights {os.fspath(weights)!r}")
    return VideoAdapter(
        net,
        clip_len=clip_len,
        size=size,
        mean=mean,
        std=std,
        layer="model.mixed_5c",
        resize=(round(size * 256 / 224),),
        sampling="strided",
        class_names=kinetics if k == len(kinetics) else None,
        name="i3d",
    )


register(
    ZooEntry(
        name="i3d",
        builder=load_i3d,
        description="I3D Inception-v1 inflated (Kinetics-400 RGB), 16 x 224 x 224",
        requires=(),
        weights=f"local file: {PUBLISHED}",
    )
)
