"""Evaluation of attributions: faithfulness, localisation, temporal grounding, sanity and mask statistics.

Every metric takes maps of shape ``(B, 1|A, T, H, W)`` from any method (gradient maps, Grad-CAM, or
perturbation masks at ``A`` areas), works batched on the maps' device, and raises a ``ValueError`` naming
the argument when shapes do not match.

* [`deletion`][videoattr.metrics.deletion], [`insertion`][videoattr.metrics.insertion]: target probability as the top-ranked voxels are blurred away or
  restored, with the area under the curve.
* [`pointing_game`][videoattr.metrics.pointing_game], [`PointingGame`][videoattr.metrics.PointingGame], [`mass_in_ground_truth`][videoattr.metrics.mass_in_ground_truth], [`topk_iou`][videoattr.metrics.topk_iou]:
  localisation against spatio-temporal ground-truth masks ([`boxes_to_masks`][videoattr.metrics.boxes_to_masks] for boxes).
* [`pointing_on_boxes`][videoattr.metrics.pointing_on_boxes], [`hit_regions`][videoattr.metrics.hit_regions], [`chance_hits`][videoattr.metrics.chance_hits], [`class_average`][videoattr.metrics.class_average]:
  the pointing game on annotated boxes, correct or as the reference implementation scores it
  (``protocol="reference"``), with its chance level.
* [`temporal_grounding`][videoattr.metrics.temporal_grounding], [`half_grounding`][videoattr.metrics.half_grounding], [`evidence_frame_share`][videoattr.metrics.evidence_frame_share],
  [`join_clips`][videoattr.metrics.join_clips]: does the map point at the frames (or the half of joined clips) that hold the
  evidence.
* [`cascading_randomization`][videoattr.metrics.cascading_randomization], [`randomized_correlation`][videoattr.metrics.randomized_correlation], [`spearman`][videoattr.metrics.spearman]: the
  model-randomisation sanity check.
* `bootstrap` (in `videoattr.metrics.stats`): bootstrap replicates of any statistic over clips (standard errors, paired
  differences between methods).
* [`achieved_area`][videoattr.metrics.achieved_area], [`mask_scores`][videoattr.metrics.mask_scores]: perturbation masks' area and the target probability of
  the preserved and deleted clips.
"""

from videoattr.metrics.deletion_insertion import (
    CurveResult,
    deletion,
    insertion,
)
from videoattr.metrics.grounding import (
    evidence_frame_share,
    half_grounding,
    join_clips,
    temporal_grounding,
)
from videoattr.metrics.mask_stats import MaskScores, achieved_area, mask_scores
from videoattr.metrics.pointing import (
    PointingGame,
    PointingResult,
    boxes_to_masks,
    mass_in_ground_truth,
    pointing_game,
    topk_iou,
)
from videoattr.metrics.protocols import (
    chance_hits,
    class_average,
    hit_regions,
    pointing_on_boxes,
)
from videoattr.metrics.sanity import (
    CascadeResult,
    cascading_randomization,
    randomized_correlation,
    spearman,
)
from videoattr.metrics.stats import bootstrap

__all__ = [
    "CascadeResult",
    "CurveResult",
    "MaskScores",
    "PointingGame",
    "PointingResult",
    "achieved_area",
    "bootstrap",
    "boxes_to_masks",
    "cascading_randomization",
    "chance_hits",
    "class_average",
    "deletion",
    "evidence_frame_share",
    "half_grounding",
    "hit_regions",
    "insertion",
    "join_clips",
    "mask_scores",
    "mass_in_ground_truth",
    "pointing_game",
    "pointing_on_boxes",
    "randomized_correlation",
    "spearman",
    "temporal_grounding",
    "topk_iou",
]
