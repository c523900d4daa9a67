"""Score-CAM for 3-D (spatio-temporal) feature maps: channel weights from masked forwards."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from videoattr.core.batching import scored_chunks
from videoattr.core.hooks import Reshape
from videoattr.core.ops import resize_to_clip
from videoattr.core.progress import progress_bar
from videoattr.methods._memory import FORWARD_BATCH
from videoattr.methods.cam import CAM3D, CAMContext, LayerSpecs
from videoattr.methods.registry import register_method

#: Added to ``max - min`` when a channel's upsampled activation is scaled to ``[0, 1]`` (as pytorch-grad-cam).
EPS = 1e-8


def channel_masks(act: Tensor, size: tuple[int, int, int]) -> Tensor:
    """Every channel of ``act`` ``(M, T', H', W')`` resized to ``size`` and min-max scaled: ``(M, 1, T, H, W)``.

    Trilinear resizing (``align_corners=False``, as every map in videoattr); a constant channel gives an
    all-zero mask.
    """
    up = resize_to_clip(act.unsqueeze(1), size)
    flat = up.flatten(1)
    lo = flat.min(dim=1).values.view(-1, 1, 1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1, 1, 1)
    return (up - lo) / (hi - lo + EPS)


class ScoreCAM3D(CAM3D):
    """Score-CAM (Wang et al., CVPR Workshops 2020) on a layer with activations ``(B, D, T', H', W')``.

    Gradient-free: each activation channel ``A_d``, resized to the clip and min-max scaled to ``[0, 1]``,
    multiplies the clip, and the target score ``s_d`` of that masked clip (a forward each) gives the
    channel's weight

        ``w_d = softmax_d(s_d)``,   ``map = ReLU(sum_d w_d A_d)``.

    The paper scores the *increase* of the target over a baseline clip, ``s_d - s_b``; with the softmax
    over channels the baseline cancels (``softmax`` is shift-invariant), so no baseline forward is run.
    The weights are per channel: there is no ``weights`` option.

    Cost: one forward of the clip plus ``D`` forwards per clip and layer (``D`` the layer's channels),
    without any backward. The masked clips run in batches of at most ``max_batch_size`` (clip, channel)
    pairs, built batch by batch, so memory stays bounded whatever ``D`` is; the result does not depend
    on ``max_batch_size``.

    Args:
        model: classifier ``(B, C, T, H, W) -> (B, K)``.
        layer: the layer (or layers to fuse), a module or a dotted name.
        reshape: layer output -> ``(B, D, T', H', W')`` (transformer tokens; default ``None``).
        relu: apply the ReLU to the weighted sum (default ``True``).
        resize: resize to the clip (default ``True``).
        normalize: per-clip min-max to ``[0, 1]`` (default ``False``).
        max_batch_size: most clips, and most masked clips, in one forward. Default 16 (about 1.7 GB
            on r2plus1d_18 at 16 x 112 x 112, whose last block has ``D = 512`` channels); ``None``: all
            ``B * D`` in one forward (16.6 GB on that model).
        eval_mode: run the model in eval mode during the call.
        progress: a bar counting the masked forwards (default ``True``; ``False`` hides it).

    Example:
        >>> cam = ScoreCAM3D(model, layer="layer4", max_batch_size=64, normalize=True)
        >>> maps = cam.attribute(clip, target=3)   # (B, 1, T, H, W) in [0, 1]
    """

    method_name: ClassVar[str | None] = "score_cam"
    uses_gradients: ClassVar[bool] = False

    def __init__(
        self,
        model: nn.Module,
        layer: LayerSpecs,
        *,
        reshape: Reshape | None = None,
        relu: bool = True,
        resize: bool = True,
        normalize: bool = False,
        max_batch_size: int | None = FORWARD_BATCH,
        eval_mode: bool = True,
        progress: bool = True,
    ) -> None:
        super().__init__(
            model,
            layer,
            reshape=reshape,
            relu=relu,
            resize=resize,
            normalize=normalize,
            max_batch_size=max_batch_size,
            eval_mode=eval_mode,
        )
        self.progress = bool(progress)

    def channel_weights(self, act: Tensor, grad: Tensor | None, context: CAMContext) -> Tensor:
        """``softmax_d`` of the target scores of the clips masked by each channel: ``(N, D, 1, 1, 1)``."""
        x = context.x
        n, d = act.shape[:2]
        size = (x.shape[2], x.shape[3], x.shape[4])
        scores = torch.empty(n * d, device=act.device, dtype=act.dtype)
        flat = act.flatten(0, 1)  # (N * D, T', H', W'): row r is clip r // D, channel r % D

        def masked(rows: slice) -> tuple[Tensor, Tensor]:
            clip = torch.arange(rows.start, rows.stop, device=act.device) // d
            masks = channel_masks(flat[rows], size).to(x.dtype)
            return x[clip] * masks, context.clip_index[clip]

        with progress_bar(n * d, "score_cam", enabled=self.progress) as bar:
            for rows, score in scored_chunks(
                n * d, masked, self.forward, context.target.score, self.max_batch_size
            ):
                scores[rows] = score.to(scores.dtype)
                bar.update(rows.stop - rows.start)
        return torch.softmax(scores.view(n, d), dim=1).view(n, d, 1, 1, 1)


register_method(
    "score_cam",
    ScoreCAM3D,
    aliases=("ScoreCAM3D", "ScoreCAM", "scorecam", "score-cam"),
    kind="cam",
    summary="activations weighted by the target score of the clip they mask (Wang et al. 2020)",
)
