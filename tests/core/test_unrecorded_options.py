"""An attributor whose constructor option is stored under another name: a TypeError naming it."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from tests.helpers import clip
from videoattr.core.base import Attributor
from videoattr.core.targets import Target


class Hidden(Attributor):
    """Stores ``scale`` as ``self._factor``: the default `options` cannot find it."""

    def __init__(self, model: nn.Module, *, scale: float = 2.0) -> None:
        super().__init__(model)
        self._factor = scale

    def attribute(self, x: Tensor, target: Target = None, **overrides: object) -> Tensor:
        return torch.ones_like(x[:, :1]) * self._factor


def test_an_option_stored_under_another_name_is_a_type_error_naming_the_class() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 4 * 4, 2))
    hidden = Hidden(model)
    message = (
        r"Hidden cannot record its options: its constructor takes 'scale'.*Hidden\.options\(\)"
    )
    for call in (hidden.options, hidden.config, lambda: hidden.explain(clip(b=1, t=2, h=4, w=4))):
        with pytest.raises(TypeError, match=message):
            call()
    assert repr(hidden) == "Hidden(model=Sequential, max_batch_size=None)"  # repr never fails
