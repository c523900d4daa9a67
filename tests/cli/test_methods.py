"""``--method`` speaks the registry: canonical names, aliases, a method registered later."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from videoattr import demo_model, io
from videoattr.cli import build_parser, main
from videoattr.core.base import Attributor
from videoattr.core.targets import Target
from videoattr.datasets import SyntheticMotion
from videoattr.methods import Saliency
from videoattr.methods.registry import (
    method_aliases,
    method_names,
    register_method,
    unregister_method,
)


def parsed_method(name: str) -> str:
    args = build_parser().parse_args(["explain", "--video", "x.mp4", "--method", name])
    return str(args.method)


@pytest.mark.parametrize("alias", sorted(method_aliases()))
def test_every_alias_resolves_to_its_canonical_name(alias: str) -> None:
    assert parsed_method(alias) == method_aliases()[alias]


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("saliency", "saliency"),
        ("grad", "saliency"),
        ("gradcam", "grad_cam"),
        ("grad-cam", "grad_cam"),
        ("ig", "integrated_gradients"),
        ("integrated-gradients", "integrated_gradients"),
        ("smoothgrad", "smoothgrad"),
        ("smooth_grad", "smoothgrad"),
        ("input-x-gradient", "input_x_gradient"),
        ("grad*input", "input_x_gradient"),
        ("2d_ep", "ep2d"),
        ("3d_ep", "ep3d"),
        ("STEP", "step"),
    ],
)
def test_names_users_type(typed: str, canonical: str) -> None:
    assert parsed_method(typed) == canonical


def test_help_lists_the_canonical_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in method_names():
        assert name in text


def test_a_method_registered_later_is_a_choice_and_results_record_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Doubled(Attributor):
        """Twice the saliency map: a throw-away method."""

        def __init__(self, model: torch.nn.Module, *, max_batch_size: int | None = None) -> None:
            super().__init__(model, max_batch_size=max_batch_size)
            self.inner = Saliency(model, max_batch_size=max_batch_size)

        def attribute(self, x: torch.Tensor, target: Target = None) -> torch.Tensor:
            out: torch.Tensor = 2 * self.inner.attribute(x, target)
            return out

    register_method("doubled_saliency", Doubled, aliases=("twice",), summary="test only")
    try:
        assert parsed_method("TWICE") == "doubled_saliency"
        frames = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1).frames[0]
        video = tmp_path / "right-1.mp4"
        io.write_video(video, frames, fps=8)
        args = ["explain", "--video", str(video), "--model", "demo", "--method", "twice"]
        assert main([*args, "--no-gpu", "--out", str(tmp_path / "o")]) == 0
        (summary,) = (tmp_path / "o" / "doubled_saliency" / "demo").glob("*/*.json")
        record = json.loads(summary.read_text())
        assert record["method"] == record["settings"]["method"] == "doubled_saliency"
    finally:
        unregister_method("doubled_saliency")
    with pytest.raises(SystemExit):
        parsed_method("twice")
    assert "not a registered method" in capsys.readouterr().err


def test_options_a_method_does_not_take_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1).frames[0]
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    base = ["explain", "--video", str(video), "--model", "demo", "--no-gpu"]
    for extra in (
        ["--method", "saliency", "--layer", "x"],
        ["--method", "grad_cam", "--polarity", "signed"],
    ):
        assert main([*base, *extra, "--out", str(tmp_path / "o")]) == 2
        assert (
            f"{extra[2]} does not apply to --method {parsed_method(extra[1])}"
            in capsys.readouterr().err
        )
    assert not (tmp_path / "o").exists()


def test_the_polarity_default_is_the_api_default(tmp_path: Path) -> None:
    frames = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1).frames[0]
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    args = ["explain", "--video", str(video), "--model", "demo", "--method", "grad", "--no-gpu"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 0
    (summary,) = (tmp_path / "o").rglob("*.json")
    model = torch.nn.Linear(2, 2)
    assert (
        json.loads(summary.read_text())["settings"]["polarity"]
        == Saliency(model).config()["polarity"]
    )


#: ``--option`` pairs that keep the many-forward methods quick on the demo model.
QUICK_OPTIONS: dict[str, list[str]] = {
    "rise": ["--option", "n=32"],
    "occlusion": ["--option", "window=(8, 28, 28)"],
}


def _explain_settings(tmp_path: Path, extra: list[str]) -> dict[str, object]:
    frames = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1).frames[0]
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    out = tmp_path / "o"
    args = ["explain", "--video", str(video), "--model", "demo", "--no-gpu", "--no-progress"]
    assert main([*args, *extra, "--out", str(out)]) == 0
    (summary,) = out.rglob("*.json")
    settings: dict[str, object] = json.loads(summary.read_text())["settings"]
    return settings


def test_option_sets_any_method_option_and_refuses_unknown_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoattr.methods import RISE

    settings = _explain_settings(
        tmp_path, ["--method", "rise", "--option", "n=16", "--option", "grid=(2, 3, 3)"]
    )
    assert settings["n"] == 16
    assert settings["grid"] == [2, 3, 3]
    # no --max-batch-size: the method's own bound, not "no bound"
    assert settings["max_batch_size"] == RISE(torch.nn.Linear(2, 2)).max_batch_size
    video = next(tmp_path.glob("*.mp4"))
    base = ["explain", "--video", str(video), "--model", "demo", "--no-gpu"]
    assert main([*base, "--method", "rise", "--option", "bogus=1"]) == 2
    assert "--option bogus=... does not apply to --method rise" in capsys.readouterr().err
    assert main([*base, "--method", "rise", "--option", "n"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_an_option_the_wrapped_method_does_not_take_is_named_as_the_command_line_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SmoothGrad takes any option (its wrapped method's): the wrapped method refuses one with an
    OptionError whose names are data, spelled as flags."""
    frames = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1).frames[0]
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    base = ["explain", "--video", str(video), "--model", "demo", "--no-gpu"]
    assert main([*base, "--method", "smoothgrad", "--option", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert (
        "--method smoothgrad: method 'saliency' does not take the option(s) --option bogus=...; "
        "it takes --option eval_mode=..., --max-batch-size, --option multiply_by_inputs=..., "
        "--polarity, --option reduction=...\n"
    ) in err
    assert "'bogus'" not in err and "[" not in err
    assert main([*base, "--method", "smoothgrad", "--layer", "x"]) == 2
    err = capsys.readouterr().err
    assert "does not take the option(s) --layer; it takes" in err and "'layer'" not in err
    assert main([*base, "--method", "smoothgrad", "--option", "attributor='grad_cam'"]) == 2
    assert "method 'grad_cam' needs the option(s) --layer\n" in capsys.readouterr().err
    assert main([*base, "--method", "rise", "--option", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "(its options: --option baseline=..., " in err and ", --max-batch-size, " in err
    assert not (tmp_path / "o").exists()


def test_several_layers_separated_by_commas_are_fused(tmp_path: Path) -> None:
    settings = _explain_settings(
        tmp_path,
        ["--method", "layer_cam", "--layer", "model.features.block2, model.features.block4"],
    )
    assert settings["layer"] == ["model.features.block2", "model.features.block4"]


@pytest.mark.parametrize("name", list(method_names()))
def test_every_registered_method_explains_a_clip(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoattr.methods.registry import method_info

    frames = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1).frames[0]
    video = tmp_path / "right-1.mp4"
    io.write_video(video, frames, fps=8)
    args = ["explain", "--video", str(video), "--model", "demo", "--method", name, "--no-gpu"]
    if method_info(name).kind == "attention":  # the demo 3-D CNN has no attention: one clear line
        assert main([*args, "--no-progress", "--out", str(tmp_path / "o")]) == 2
        assert "attention" in capsys.readouterr().err
        return
    if method_info(name).kind == "perturbation":
        args += ["--iterations", "2"]
    args += QUICK_OPTIONS.get(name, [])
    assert main([*args, "--no-progress", "--out", str(tmp_path / "o")]) == 0
    (summary,) = (tmp_path / "o").rglob("*.json")
    record = json.loads(summary.read_text())
    assert record["method"] == record["settings"]["method"] == name
    assert np.isfinite(np.load(summary.with_suffix(".npz"))["maps"]).all()
