"""A method's options named wrongly: an `OptionError` carries the names as data."""

from __future__ import annotations

import pickle

import pytest

from tests.helpers import tiny_cnn3d
from videoattr.core.errors import OptionError
from videoattr.methods import IntegratedGradients
from videoattr.methods.registry import build_attributor


def test_the_registry_names_unknown_missing_and_fixed_options_as_data() -> None:
    model = tiny_cnn3d()
    with pytest.raises(OptionError) as info:
        build_attributor("ig", model, stepz=7, bogus=1)
    err = info.value
    assert isinstance(err, TypeError)
    assert (err.method, err.names, err.argument) == (
        "integrated_gradients",
        ("bogus", "stepz"),
        "bogus",
    )
    assert err.known is not None and "steps" in err.known
    assert str(err).startswith(
        "method 'integrated_gradients' does not take the option(s) ['bogus', 'stepz']; it takes ["
    )
    spelled = err.words(name=lambda n: f"<{n}>")
    assert "the option(s) <bogus>, <stepz>; it takes <baseline>, " in spelled
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.names, again.known, again.method) == (
        str(err), err.names, err.known, err.method,
    )  # fmt: skip
    with pytest.raises(OptionError) as info:
        build_attributor("gradcam", model)
    assert info.value.names == ("layer",)
    with pytest.raises(OptionError) as info:
        build_attributor("input_x_gradient", model, multiply_by_inputs=False)
    assert info.value.names == ("multiply_by_inputs",)


def test_a_per_call_option_that_is_no_option_is_named_as_data() -> None:
    ig = IntegratedGradients(tiny_cnn3d())
    with pytest.raises(OptionError) as info:
        ig.replace(stepss=3)
    err = info.value
    assert err.names == ("stepss",) and err.known is not None and "steps" in err.known
    assert str(err).startswith("IntegratedGradients has no option 'stepss' (did you mean 'steps'?)")
    assert "; the call also takes ['return_gap']" in str(err)
    assert err.words(name=str.upper).startswith(
        "IntegratedGradients has no option STEPSS (did you mean STEPS?); its options are BASELINE"
    )
