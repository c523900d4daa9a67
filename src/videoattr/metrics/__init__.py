"""Evaluation of attributions: faithfulness, localisation, temporal grounding, sanity and mask statistics.

Every metric takes maps of shape ``(B, 1|A, T, H, W)`` from any method (gradient maps, Grad-CAM, or
perturbation masks at ``A`` areas), works batched on the maps' device, and raises a ``ValueError`` naming
the argument when shapes do not match.

* :func:`deletion`, :func:`insertion`: target probability as the top-ranked voxels are blurred away or
  restored, with the area under the curve.
* :func:`pointing_game`, :class:`PointingGame`, :func:`mass_in_ground_truth`, :func:`topk_iou`:
  localisation against spatio-temporal ground-truth masks (:func:`boxes_to_masks` for boxes).
* :func:`temporal_grounding`, :func:`half_grounding`, :func:`join_clips`: does the map point at the frames
  (or the half of joined clips) that hold the evidence.
* :func:`cascading_randomization`, :func:`spearman`: the model-randomisation sanity check.
* :func:`achieved_area`, :func:`mask_scores`: perturbation masks' area and the target probability of
  the preserved and deleted clips.
"""

from videoattr.metrics.deletion_insertion import (
    CurveResult,
    deletion,
    insertion,
    rank_voxels,
    voxel_curve,
)
from videoattr.metrics.grounding import frame_mass, half_grounding, join_clips, temporal_grounding
from videoattr.metrics.mask_stats import MaskScores, achieved_area, mask_scores
from videoattr.metrics.pointing import (
    PointingGame,
    PointingResult,
    boxes_to_masks,
    mass_in_ground_truth,
    peak_locations,
    pointing_game,
    top_fraction_mask,
    topk_iou,
)
from videoattr.metrics.sanity import CascadeResult, cascading_randomization, rankdata, spearman

__all__ = [
    "CascadeResult",
    "CurveResult",
    "MaskScores",
    "PointingGame",
    "PointingResult",
    "achieved_area",
    "boxes_to_masks",
    "cascading_randomization",
    "deletion",
    "frame_mass",
    "half_grounding",
    "insertion",
    "join_clips",
    "mask_scores",
    "mass_in_ground_truth",
    "peak_locations",
    "pointing_game",
    "rank_voxels",
    "rankdata",
    "spearman",
    "temporal_grounding",
    "top_fraction_mask",
    "topk_iou",
    "voxel_curve",
]
