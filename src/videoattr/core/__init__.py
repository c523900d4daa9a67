"""Shared mechanisms used by every attribution method.

One module per concern: clip validation (:mod:`.validation`), target resolution (:mod:`.targets`),
layer hooks (:mod:`.hooks`), model-state restoration (:mod:`.state`), batching (:mod:`.batching`),
dimension-agnostic tensor ops (:mod:`.ops`) and the :class:`~videoattr.core.base.Attributor` base class.
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
