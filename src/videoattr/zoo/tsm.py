"""Temporal Shift Module (Lin et al., ICCV 2019) on a ResNet-50, in the public checkpoints' key layout.

The network folds the frames of a clip into the batch, ``(B*T, C, H, W)``, and runs a 2-D ResNet-50
whose residual branches shift 1/8 of the channels one frame back and 1/8 one frame forward in time
before their first convolution ("blockres" placement); the per-frame logits are averaged over the
``T`` segments. The state-dict keys are those of the public checkpoints: ``base_model.*`` for the
ResNet (``base_model.layer1.0.conv1.net.weight`` for a shifted convolution) and ``new_fc.*`` for a
single head (the Kinetics-400 checkpoints of the TSM authors) or ``fc_verb.*`` / ``fc_noun.*`` for the
two EPIC-Kitchens heads (the EPIC-Kitchens-55 action-model checkpoints). A ``module.`` prefix and a
``{"state_dict": ...}`` wrapper are removed when loading.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchvision.models import resnet50  # type: ignore[import-untyped, unused-ignore]

from videoattr.zoo.adapter import VideoAdapter
from videoattr.zoo.registry import ZooEntry, register
from videoattr.zoo.torchvision_models import kinetics400_classes
from videoattr.zoo.weights import load_state_dict_checked, read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EPIC_VERBS = 125
EPIC_NOUNS = 352
KINETICS_PUBLISHED = (
    "TSM Kinetics-400 checkpoints, e.g. TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth, "
    "are listed in the model zoo of https://github.com/mit-han-lab/temporal-shift-module"
)
EPIC_PUBLISHED = (
    "the EPIC-Kitchens-55 TSM checkpoint is published by https://github.com/epic-kitchens/"
    "epic-kitchens-55-action-models as https://wp-research-public.s3-eu-west-1.amazonaws.com/"
    "epic-models-checkpoints/TSM_arch=resnet50_modality=RGB_segments=8-cfc93918.pth.tar"
)


def temporal_shift(x: Tensor, segments: int, fold_div: int = 8) -> Tensor:
    """Shift channels of frame-folded features ``(B*T, C, H, W)`` along time (zero-filled ends).

    Channels ``[0, C/fold_div)`` take the next frame's values, ``[C/fold_div, 2C/fold_div)`` the previous
    frame's, the rest stay.
    """
    nt, c, h, w = x.shape
    v = x.reshape(nt // segments, segments, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(v)
    out[:, :-1, :fold] = v[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = v[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = v[:, :, 2 * fold :]
    return out.reshape(nt, c, h, w)


class TemporalShift(nn.Module):
    """Apply [`temporal_shift`][videoattr.zoo.tsm.temporal_shift] and then the wrapped convolution ``net``."""

    def __init__(self, net: nn.Module, segments: int, fold_div: int = 8) -> None:
        super().__init__()
        self.net = net
        self.segments = segments
        self.fold_div = fold_div

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] % self.segments:
            raise ValueError(
                f"TSM was built for {self.segments} segments but got {x.shape[0]} frames in the batch "
                "(not a multiple); build it with segments=T for T-frame clips"
            )
        out: Tensor = self.net(temporal_shift(x, self.segments, self.fold_div))
        return out


class TSM(nn.Module):
    """TSM ResNet-50: ``(B*T, 3, H, W)`` frames to ``(B, K)`` logits (or a ``(verb, noun)`` pair).

    Args:
        num_classes: ``K`` for one head (``new_fc``), or ``(verbs, nouns)`` for the EPIC-Kitchens heads
            (``fc_verb``, ``fc_noun``).
        segments: frames per clip ``T`` (8 in the public checkpoints).
        fold_div: ``1/fold_div`` of the channels shift each way. Default 8.
        dropout: dropout before the classifier (identity in eval mode). Default 0.8 as in training.
    """

    def __init__(
        self,
        num_classes: int | tuple[int, int] = 400,
        segments: int = 8,
        fold_div: int = 8,
        dropout: float = 0.8,
    ) -> None:
        super().__init__()
        self.segments = segments
        base = resnet50(weights=None)
        for stage in (base.layer1, base.layer2, base.layer3, base.layer4):
            for block in stage:
                block.conv1 = TemporalShift(block.conv1, segments, fold_div)
        base.fc = nn.Dropout(p=dropout)  # type: ignore[assignment, unused-ignore]
        self.base_model = base
        self.multitask = isinstance(num_classes, tuple)
        if isinstance(num_classes, tuple):
            self.fc_verb = nn.Linear(2048, num_classes[0])
            self.fc_noun = nn.Linear(2048, num_classes[1])
        else:
            self.new_fc = nn.Linear(2048, num_classes)

    def _consensus(self, logits: Tensor) -> Tensor:
        return logits.reshape(-1, self.segments, logits.shape[-1]).mean(dim=1)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Logits of frame-folded clips ``(B*T, 3, H, W)``: ``(B, K)`` or ``((B, verbs), (B, nouns))``."""
        features = self.base_model(x)
        if self.multitask:
            return self._consensus(self.fc_verb(features)), self._consensus(self.fc_noun(features))
        return self._consensus(self.new_fc(features))


def _pick(head: int) -> Any:
    def output(out: Any) -> Tensor:
        picked: Tensor = out[head] if isinstance(out, tuple) else out
        return picked

    return output


def load_tsm(
    weights: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    *,
    dataset: Literal["kinetics", "epic-kitchens"] = "kinetics",
    head: Literal["verb", "noun"] = "verb",
    segments: int = 8,
    size: int = 224,
    class_names: list[str] | None = None,
) -> VideoAdapter:
    """TSM ResNet-50 adapter (layer ``model.base_model.layer4``, frames folded into the batch).

    Args:
        weights: ``None`` (random) or a local checkpoint in the public key layout.
        num_classes: classes of the single head; default 400 for ``dataset="kinetics"``. Not
            accepted for EPIC-Kitchens (125 verbs and 352 nouns).
        dataset: ``"kinetics"`` (one head, Kinetics-400 class names) or ``"epic-kitchens"`` (two heads).
        head: for EPIC-Kitchens, which head's logits the adapter returns: ``"verb"`` or ``"noun"``.
        segments: frames per clip ``T``; the adapter accepts only clips with this many frames.
        size: input size (224 in the public checkpoints; smaller works for testing).
        class_names: class names of the returned head (EPIC-Kitchens names are not bundled).

    Raises:
        FileNotFoundError: ``weights`` does not exist (names where the checkpoints are published).
        ValueError: the checkpoint's keys or shapes do not match (lists them).
    """
    if dataset not in ("kinetics", "epic-kitchens"):
        raise ValueError(f"dataset must be 'kinetics' or 'epic-kitchens'; got {dataset!r}")
    if head not in ("verb", "noun"):
        raise ValueError(f"head must be 'verb' or 'noun'; got {head!r}")
    names = class_names
    if dataset == "epic-kitchens":
        if num_classes is not None:
            raise ValueError(
                f"num_classes does not apply to dataset='epic-kitchens' (heads of {EPIC_VERBS} verbs and "
                f"{EPIC_NOUNS} nouns); got num_classes={num_classes}"
            )
        net = TSM((EPIC_VERBS, EPIC_NOUNS), segments=segments)
        published = EPIC_PUBLISHED
    else:
        kinetics = kinetics400_classes()
        k = len(kinetics) if num_classes is None else int(num_classes)
        net = TSM(k, segments=segments)
        published = KINETICS_PUBLISHED
        if names is None and k == len(kinetics):
            names = kinetics
    if weights is not None:
        state = read_state_dict(weights, published=published)
        load_state_dict_checked(net, state, source=f"TSM weights {os.fspath(weights)!r}")
    return VideoAdapter(
        net,
        clip_len=segments,
        size=size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        layer="model.base_model.layer4",
        layout="(BT)CHW",
        resize=(round(size * 256 / 224),),
        sampling="segments",
        class_names=names,
        output=_pick(0 if head == "verb" else 1) if dataset == "epic-kitchens" else None,
        name=f"tsm-{dataset}" + (f"-{head}" if dataset == "epic-kitchens" else ""),
    )


register(
    ZooEntry(
        name="tsm",
        builder=load_tsm,
        description="TSM ResNet-50 (temporal shift, 8 segments, 224 x 224, frames folded into the batch); "
        "dataset='kinetics' or 'epic-kitchens' with head='verb'|'noun'",
        requires=(),
        weights=f"local file: {KINETICS_PUBLISHED}; {EPIC_PUBLISHED}",
    )
)
