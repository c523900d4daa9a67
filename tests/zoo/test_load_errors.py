"""The zoo's loading errors name their argument and the settings that fix them, as data.

The command line spells the same errors with its options (``--weights``, ``--download``) from that
data, with no rewriting of the library's words.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import pytest
import torch

from videoattr import zoo
from videoattr.cli.loading import load_model
from videoattr.cli.options import CommandError
from videoattr.core.errors import ArgumentError, ArgumentFileNotFoundError, Setting
from videoattr.zoo import WeightsFileError


def _error(**kwargs: object) -> ArgumentError:
    with pytest.raises(ArgumentError) as info:
        zoo.load(**kwargs)  # type: ignore[arg-type]
    return info.value


def _cli_error(capsys: pytest.CaptureFixture[str], **kwargs: object) -> str:
    args = argparse.Namespace(**{"seed": 0, "download": False, "weights": None, **kwargs})
    with pytest.raises(CommandError) as info:
        load_model(args, torch.device("cpu"))
    capsys.readouterr()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def empty_hub(tmp_path: Path) -> object:
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield
    torch.hub.set_dir(old)


def test_a_missing_weights_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.pth"
    err = _error(name="r3d_18", weights=str(missing))
    assert isinstance(err, FileNotFoundError) and isinstance(err, ArgumentFileNotFoundError)
    assert err.argument == "weights"
    assert Setting("weights", "'PATH'") in err.parts and Setting("download", "True") in err.parts
    assert "pass weights='PATH'" in str(err) and "pass download=True" in str(err)
    message = _cli_error(capsys, model="r3d_18", weights=str(missing))
    assert message.startswith("--weights: weights file ") and str(missing) in message
    assert "pass --weights PATH" in message and "pass --download" in message
    assert "weights=" not in message and "download=" not in message


def test_named_weights_not_in_the_cache(
    empty_hub: object, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _error(name="r3d_18", weights="DEFAULT")
    assert isinstance(err, FileNotFoundError) and err.argument == "weights"
    assert "pass weights='/path/to/file.pth'" in str(err) and "pass download=True" in str(err)
    message = _cli_error(capsys, model="r3d_18", weights="DEFAULT")
    assert message.startswith("--weights: r3d_18 weights R3D_18_Weights.KINETICS400_V1")
    assert "pass --weights /path/to/file.pth" in message and "or pass --download." in message


def test_fixed_weights_of_the_demo_model(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(name="demo", weights="w.pth")
    assert isinstance(err, ValueError) and err.argument == "weights"
    assert str(err).endswith("pass weights=None")
    assert _error(name="demo", num_classes=3).argument == "num_classes"
    message = _cli_error(capsys, model="demo", weights="w.pth")
    assert message == (
        "--weights: the demo model has fixed bundled weights and classes; leave out --weights"
    )


def test_download_of_a_model_without_named_weights(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("demo", "tsm"):
        err = _error(name=name, download=True)
        assert isinstance(err, ValueError) and err.argument == "download"
        assert f"model {name!r} has no weights to download" in str(err)
        assert str(err).endswith("pass download=False")
    args = argparse.Namespace(seed=0, download=True, weights=None, model="demo")
    with pytest.raises(CommandError, match=r"^--download: model 'demo' has no weights") as info:
        load_model(args, torch.device("cpu"))
    assert str(info.value).endswith("leave out --download")
    assert zoo.get_entry("r3d_18").downloads and not zoo.get_entry("demo").downloads


def test_weights_that_do_not_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, weights)
    err = _error(name="r3d_18", weights=str(weights))
    assert isinstance(err, ValueError) and err.argument == "weights"
    assert "do not match" in str(err)
    assert _cli_error(capsys, model="r3d_18", weights=str(weights)).startswith(
        "--weights: the weights in "
    )
    weights.write_bytes(b"not a torch file")
    err = _error(name="r3d_18", weights=str(weights))
    assert isinstance(err, WeightsFileError) and err.argument == "weights"


def test_argument_errors_survive_pickling() -> None:
    err = _error(name="demo", weights="w.pth")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)
    assert back.argument == "weights" and back.parts == err.parts
