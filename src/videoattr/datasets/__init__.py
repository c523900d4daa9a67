"""Datasets with ground truth for evaluating attributions."""

from videoattr.datasets.synthetic import (
    MEAN,
    STD,
    SyntheticBatch,
    SyntheticMotion,
    SyntheticSample,
)

__all__ = ["MEAN", "STD", "SyntheticBatch", "SyntheticMotion", "SyntheticSample"]
