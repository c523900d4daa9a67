"""Loading weights from local files in the public key layouts; clear errors; never a download."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from videoattr import zoo
from videoattr.zoo.i3d import I3D
from videoattr.zoo.tsm import TSM


def _randomize(state: dict[str, Tensor], seed: int = 1) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in state.items():
        out[k] = torch.rand(v.shape, generator=g) + 0.5 if v.is_floating_point() else v.clone()
    return out


def _same_state(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def tsm_kinetics_state() -> dict[str, Tensor]:
    return _randomize(TSM(400, segments=4).state_dict())


def test_tsm_keys_follow_the_public_checkpoints(tsm_kinetics_state: dict[str, Tensor]) -> None:
    keys = set(tsm_kinetics_state)
    for key in (
        "base_model.conv1.weight",
        "base_model.bn1.running_mean",
        "base_model.layer1.0.conv1.net.weight",
        "base_model.layer4.2.conv1.net.weight",
        "base_model.layer2.0.downsample.0.weight",
        "base_model.layer3.5.bn3.weight",
        "new_fc.weight",
        "new_fc.bias",
    ):
        assert key in keys, key
    assert not any(k.startswith("base_model.fc.") for k in keys)
    epic = set(TSM((125, 352)).state_dict())
    assert {"fc_verb.weight", "fc_verb.bias", "fc_noun.weight", "fc_noun.bias"} <= epic
    assert "new_fc.weight" not in epic


def test_tsm_kinetics_checkpoint_round_trip(
    tmp_path: Path, tsm_kinetics_state: dict[str, Tensor]
) -> None:
    # the authors' checkpoints: {"state_dict": {"module.<key>": ...}, "epoch": ...} from DataParallel
    file = tmp_path / "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth"
    torch.save(
        {"epoch": 50, "state_dict": {f"module.{k}": v for k, v in tsm_kinetics_state.items()}}, file
    )
    adapter = zoo.load("tsm", weights=file, segments=4, size=64)
    assert _same_state(adapter.model.state_dict(), tsm_kinetics_state)
    assert adapter.class_names is not None and len(adapter.class_names) == 400
    assert (adapter.clip_len, adapter.size, adapter.layer) == (
        4,
        (64, 64),
        "model.base_model.layer4",
    )


def test_tsm_epic_checkpoint_heads(tmp_path: Path) -> None:
    source = TSM((125, 352), segments=2).eval()
    state = _randomize(source.state_dict(), seed=2)
    source.load_state_dict(state)
    file = tmp_path / "TSM_arch=resnet50_modality=RGB_segments=8-cfc93918.pth.tar"
    torch.save({"arch": "resnet50", "segment_count": 8, "state_dict": state}, file)
    x = torch.randn(1, 3, 2, 32, 32)
    frames = x.permute(0, 2, 1, 3, 4).reshape(2, 3, 32, 32)
    with torch.no_grad():
        verb_ref, noun_ref = source(frames)
        verb = zoo.load(
            "tsm", weights=file, dataset="epic-kitchens", head="verb", segments=2
        ).eval()(x)
        noun = zoo.load(
            "tsm", weights=str(file), dataset="epic-kitchens", head="noun", segments=2
        ).eval()(x)
    assert verb.shape == (1, 125) and noun.shape == (1, 352)
    torch.testing.assert_close(verb, verb_ref)
    torch.testing.assert_close(noun, noun_ref)


def test_i3d_keys_and_round_trip_without_batch_counters(tmp_path: Path) -> None:
    state = _randomize(I3D().state_dict(), seed=3)
    for key in (
        "conv3d_1a_7x7.conv3d.weight",
        "conv3d_1a_7x7.batch3d.running_var",
        "conv3d_2c_3x3.conv3d.weight",
        "mixed_3b.branch_0.conv3d.weight",
        "mixed_4f.branch_1.1.conv3d.weight",
        "mixed_5c.branch_2.0.batch3d.bias",
        "mixed_5c.branch_3.1.conv3d.weight",
        "conv3d_0c_1x1.conv3d.weight",
        "conv3d_0c_1x1.conv3d.bias",
    ):
        assert key in state, key
    assert "conv3d_0c_1x1.batch3d.weight" not in state and "conv3d_1a_7x7.conv3d.bias" not in state
    assert state["conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert state["mixed_5c.branch_1.1.conv3d.weight"].shape == (384, 192, 3, 3, 3)
    # the port was converted before BatchNorm had num_batches_tracked: such files must load too
    old_style = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    file = tmp_path / "model_rgb.pth"
    torch.save(old_style, file)
    adapter = zoo.load("i3d", weights=file)
    loaded = adapter.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in old_style.items())
    assert (
        adapter.layer == "model.mixed_5c" and adapter.clip_len == 16 and adapter.size == (224, 224)
    )


def test_mismatched_keys_are_all_listed(tmp_path: Path) -> None:
    state = I3D().state_dict()
    del state["mixed_4b.branch_0.conv3d.weight"]
    state["logits.conv3d.weight"] = torch.zeros(400, 1024, 1, 1, 1)
    state["conv3d_0c_1x1.conv3d.bias"] = torch.zeros(10)
    file = tmp_path / "bad.pth"
    torch.save(state, file)
    with pytest.raises(ValueError) as info:
        zoo.load("i3d", weights=file)
    msg = str(info.value)
    assert "1 missing keys: mixed_4b.branch_0.conv3d.weight" in msg
    assert "1 unexpected keys: logits.conv3d.weight" in msg
    assert "conv3d_0c_1x1.conv3d.bias: file (10,) vs model (400,)" in msg
    assert str(file) in msg


def test_wrong_head_size_for_torchvision_file(tmp_path: Path) -> None:
    file = tmp_path / "mc3_10.pth"
    torch.save(zoo.load("mc3_18", num_classes=10).model.state_dict(), file)
    with pytest.raises(ValueError, match=r"fc.weight: file \(10, 512\) vs model \(400, 512\)"):
        zoo.load("mc3_18", weights=file)
    adapter = zoo.load("mc3_18", weights=file, num_classes=10)
    assert adapter.class_names is None
    assert adapter(torch.randn(1, 3, 2, 16, 16)).shape == (1, 10)


@pytest.mark.parametrize(
    ("name", "options", "where"),
    [
        ("tsm", {}, "mit-han-lab/temporal-shift-module"),
        ("tsm", {"dataset": "epic-kitchens"}, "TSM_arch=resnet50_modality=RGB_segments=8-cfc93918"),
        ("i3d", {}, "hassony2/kinetics_i3d_pytorch"),
        ("r2plus1d_18", {}, "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth"),
    ],
)
def test_missing_weights_file_names_file_and_source(
    tmp_path: Path, name: str, options: dict[str, str], where: str
) -> None:
    missing = tmp_path / "nowhere" / "weights.pth"
    with pytest.raises(FileNotFoundError) as info:
        zoo.load(name, weights=missing, **options)
    assert str(missing) in str(info.value) and where in str(info.value)


def test_torchvision_weight_names_use_the_hub_cache_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    with pytest.raises(FileNotFoundError) as info:
        zoo.load("mc3_18", weights="KINETICS400_V1")
    msg = str(info.value)
    assert (
        "https://download.pytorch.org/models/mc3_18-a90a0ba3.pth" in msg and "download=True" in msg
    )
    state = _randomize(zoo.load("mc3_18").model.state_dict(), seed=4)
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / "mc3_18-a90a0ba3.pth")
    for weights in ("KINETICS400_V1", "DEFAULT", "default"):
        adapter = zoo.load("mc3_18", weights=weights)
        assert _same_state(adapter.model.state_dict(), state)


def test_read_state_dict_rejects_non_state_dicts(tmp_path: Path) -> None:
    file = tmp_path / "notes.pth"
    torch.save({"epoch": 3, "note": "no tensors"}, file)
    with pytest.raises(ValueError, match="does not hold a state_dict"):
        zoo.load("i3d", weights=file)
