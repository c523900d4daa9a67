"""Shared mechanisms used by every attribution method.

One module per concern: clip validation ([`validation`][videoattr.core.validation]), target resolution ([`targets`][videoattr.core.targets]),
checks of a model's dtype and outputs ([`model_checks`][videoattr.core.model_checks]),
layer hooks ([`hooks`][videoattr.core.hooks]), model-state restoration ([`state`][videoattr.core.state]), batching ([`batching`][videoattr.core.batching]),
dimension-agnostic tensor ops ([`ops`][videoattr.core.ops]) and the [`Attributor`][videoattr.core.base.Attributor] base class.
"""

from videoattr.core.base import Attributor, Explanation
from videoattr.core.targets import (
    MultiTarget,
    ResolvedTarget,
    Target,
    expand_targets,
    fold_targets,
    resolve_target,
)

__all__ = [
    "Attributor",
    "Explanation",
    "MultiTarget",
    "ResolvedTarget",
    "Target",
    "expand_targets",
    "fold_targets",
    "resolve_target",
]
