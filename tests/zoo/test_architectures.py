"""Our own TSM and I3D implementations, and loading Hugging Face checkpoints from local folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from videoattr import zoo
from videoattr.zoo.i3d import I3D, _same_padding
from videoattr.zoo.tsm import TSM, temporal_shift


def test_temporal_shift_moves_one_eighth_each_way() -> None:
    b, t, c = 2, 3, 16
    x = torch.randn(b * t, c, 2, 2)
    out = temporal_shift(x, t).view(b, t, c, 2, 2)
    v = x.view(b, t, c, 2, 2)
    fold = c // 8
    for i in range(t):
        nxt = v[:, i + 1, :fold] if i + 1 < t else torch.zeros_like(v[:, 0, :fold])
        prev = v[:, i - 1, fold : 2 * fold] if i > 0 else torch.zeros_like(v[:, 0, fold : 2 * fold])
        torch.testing.assert_close(out[:, i, :fold], nxt)
        torch.testing.assert_close(out[:, i, fold : 2 * fold], prev)
        torch.testing.assert_close(out[:, i, 2 * fold :], v[:, i, 2 * fold :])


def test_tsm_mixes_frames_unlike_frame_averaging() -> None:
    adapter = zoo.load("tsm", segments=2, size=32).eval()
    x = torch.randn(1, 3, 2, 32, 32)
    with torch.no_grad():
        out = adapter(x)
        reversed_out = adapter(x.flip(2))
        net: TSM = adapter.model  # type: ignore[assignment]
        for block in net.modules():  # without the shift the network averages per-frame logits
            if hasattr(block, "fold_div"):
                block.fold_div = 10**6
        plain = adapter(x)
        plain_reversed = adapter(x.flip(2))
    assert not torch.allclose(out, reversed_out, atol=1e-6)
    torch.testing.assert_close(plain, plain_reversed)
    with pytest.raises(ValueError, match="2 segments"):
        adapter(torch.randn(1, 3, 3, 32, 32))


def test_i3d_same_padding_and_feature_strides() -> None:
    assert _same_padding((7, 7, 7), (2, 2, 2)) == (2, 3, 2, 3, 2, 3)
    assert _same_padding((1, 3, 3), (1, 2, 2)) == (0, 1, 0, 1, 0, 0)
    assert _same_padding((3, 3, 3), (1, 1, 1)) == (1, 1, 1, 1, 1, 1)
    net = I3D(num_classes=7).eval()
    with torch.no_grad():
        feats = net.features(torch.randn(1, 3, 16, 64, 64))
        logits = net(torch.randn(2, 3, 16, 64, 64))
    assert feats.shape == (1, 1024, 2, 2, 2)  # T/8, H/32, W/32
    assert logits.shape == (2, 7)


def _tiny_videomae(tr: object) -> nn.Module:
    config = tr.VideoMAEConfig(  # type: ignore[attr-defined]
        image_size=32,
        patch_size=8,
        num_frames=4,
        tubelet_size=2,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
        id2label={0: "ironing", 1: "juggling", 2: "knitting"},
        label2id={"ironing": 0, "juggling": 1, "knitting": 2},
    )
    torch.manual_seed(0)
    model: nn.Module = tr.VideoMAEForVideoClassification(config).eval()  # type: ignore[attr-defined]
    return model


def test_hf_checkpoint_folder_with_preprocessor_config(tmp_path: Path) -> None:
    tr = pytest.importorskip("transformers")
    model = _tiny_videomae(tr)
    model.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.5, 0.5, 0.5],
                "size": {"shortest_edge": 40},
                "offset": True,
            }
        )
    )
    adapter = zoo.load("videomae", weights=tmp_path).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        expected = model(pixel_values=x.permute(0, 2, 1, 3, 4)).logits
        torch.testing.assert_close(adapter(x), expected)
    assert adapter.class_names == ["ironing", "juggling", "knitting"]
    assert (adapter.clip_len, adapter.size) == (4, (32, 32))
    # offset: x * 2 - 1 then (v - 0.5) / 0.5  ==  (x - 0.75) / 0.25
    assert adapter.mean == (0.75, 0.75, 0.75) and adapter.std == (0.25, 0.25, 0.25)
    assert adapter.preprocessing.resize == (40,)


def test_hf_hub_id_not_cached_is_not_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=r"huggingface\.co/MCG-NJU/videomae-base-finetuned-kinetics"
    ):
        zoo.load("videomae", weights="some-org/not-cached-videomae")


def test_tsm_option_errors() -> None:
    with pytest.raises(ValueError, match="num_classes does not apply"):
        zoo.load("tsm", dataset="epic-kitchens", num_classes=10)
    with pytest.raises(ValueError, match="head must be 'verb' or 'noun'"):
        zoo.load("tsm", dataset="epic-kitchens", head="action")
    with pytest.raises(ValueError, match="dataset must be"):
        zoo.load("tsm", dataset="ucf101")


def test_hf_token_grids_of_the_default_configs() -> None:
    tr = pytest.importorskip("transformers")
    from videoattr.zoo.transformers import _token_grid

    videomae = _token_grid("videomae", tr.VideoMAEConfig())
    assert (videomae.stride, videomae.prefix_tokens) == ((2, 16, 16), 0)
    timesformer = _token_grid("timesformer", tr.TimesformerConfig())
    assert (timesformer.stride, timesformer.prefix_tokens, timesformer.frames_in_batch) == (
        (1, 16, 16),
        1,
        True,
    )
    vivit = _token_grid("vivit", tr.VivitConfig())
    assert (vivit.stride, vivit.prefix_tokens) == ((2, 16, 16), 1)
    assert vivit.grid((32, 224, 224)) == (16, 14, 14)
