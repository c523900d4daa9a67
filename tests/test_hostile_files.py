"""Hostile and careless files: protocol names, pickles, truncated and bit-flipped files, wrappers.

Every file is built in a temporary folder. Each test reproduces a hole found by a probe (issue 13)
and checks the clear error (or the correct reading) that replaced it.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn

from tests.helpers import tiny_cnn3d
from videoattr import GradCAM3D, io, zoo
from videoattr.io import VideoReadError
from videoattr.zoo.weights import WeightsFileError, read_state_dict


def _level_clip(level: int, t: int, size: int = 16) -> np.ndarray:
    """``t`` flat frames of grey ``level``: a frame read back tells which file it came from."""
    return np.full((t, size, size, 3), level, dtype=np.uint8)


def _mean_level(frames: torch.Tensor) -> float:
    return float(frames.float().mean())


# --------------------------------------------------------------------------------------------------
# File names that FFmpeg would read as protocol URLs
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def videos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two real videos (grey 200 x 5 frames, grey 50 x 7 frames); the working folder is theirs."""
    io.write_video(tmp_path / "inner.avi", _level_clip(200, 5))
    io.write_video(tmp_path / "other.avi", _level_clip(50, 7))
    monkeypatch.chdir(tmp_path)  # relative names, as a folder listing gives them
    return tmp_path


HOSTILE_NAMES = [
    "concat:inner.avi|other.avi",
    "file:inner.avi",
    "subfile,,start,0,end,0,,:inner.avi",
    "concat:inner.avi|other.avi.mp4",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_empty_file_with_a_protocol_name_reads_no_other_file(videos: Path, name: str) -> None:
    (videos / name).write_bytes(b"")  # zero bytes: nothing to decode
    with pytest.raises(VideoReadError, match="could not decode video") as info:
        io.read_video(name)
    assert name in str(info.value)
    with pytest.raises(VideoReadError, match="could not decode video"):
        io.count_frames(name)
    with pytest.raises(VideoReadError):
        io.read_video(name, 4, "strided")


@pytest.mark.parametrize("name", ["pipe:0", "concat:a|b"])
def test_nonexistent_protocol_name_is_a_missing_file(videos: Path, name: str) -> None:
    with pytest.raises(FileNotFoundError, match="video not found"):
        io.read_video(name)


@pytest.mark.parametrize(
    "name", ["a:b.avi", "concat:x|y.avi", "-y.avi", "file:z.avi", "x|y .avi", "pipe:1.avi"]
)
def test_real_video_with_an_odd_name_reads_its_own_frames(videos: Path, name: str) -> None:
    io.write_video(name, _level_clip(120, 6))
    assert (videos / name).is_file()  # written as a local file, not to a protocol
    frames = io.read_video(name)
    assert frames.shape == (6, 16, 16, 3)
    assert abs(_mean_level(frames) - 120) <= 1
    assert io.count_frames(name) == 6
    assert io.read_video(name, 3, "strided").shape[0] == 3


def test_normal_files_still_read(videos: Path) -> None:
    assert abs(_mean_level(io.read_video("inner.avi")) - 200) <= 1
    assert io.read_video(videos / "other.avi").shape[0] == 7
    assert io.count_frames("other.avi") == 7


def test_playlist_content_cannot_pull_in_other_files(videos: Path) -> None:
    # An FFmpeg concat list saved as .mp4: the content names other files of the folder.
    (videos / "list.mp4").write_text("ffconcat version 1.0\nfile inner.avi\nfile other.avi\n")
    (videos / "playlist.mp4").write_text("#EXTM3U\n#EXTINF:1,\ninner.avi\n#EXT-X-ENDLIST\n")
    for name in ("list.mp4", "playlist.mp4"):
        with pytest.raises(VideoReadError, match=name.replace(".", r"\.")):
            io.read_video(name)


# --------------------------------------------------------------------------------------------------
# Truncated, bit-flipped and foreign video files
# --------------------------------------------------------------------------------------------------


def _noise_clip(t: int = 12, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (t, size, size, 3), dtype=np.uint8)


def _damaged_copies(source: Path) -> Iterator[tuple[str, bytes]]:
    data = source.read_bytes()
    yield "truncated", data[: len(data) // 2]
    flipped = bytearray(data)
    for i in range(len(flipped) // 3, len(flipped), max(1, len(flipped) // 40)):
        flipped[i] ^= 0xFF
    yield "bit-flipped", bytes(flipped)
    header = bytearray(data)
    header[:64] = bytes(64)
    yield "zeroed header", bytes(header)


@pytest.mark.parametrize("ext", ["mp4", "avi", "mkv", "gif"])
def test_damaged_video_files_raise_naming_the_file(tmp_path: Path, ext: str) -> None:
    source = io.write_video(tmp_path / f"clip.{ext}", _noise_clip())
    assert io.read_video(source).shape == (12, 32, 32, 3)
    for kind, data in _damaged_copies(source):
        bad = tmp_path / f"{kind.replace(' ', '_')}.{ext}"
        bad.write_bytes(data)
        with pytest.raises(VideoReadError) as info:
            io.count_frames(bad)
            io.read_video(bad)
        assert str(bad) in str(info.value), kind
        with pytest.raises(VideoReadError, match=bad.name):
            io.read_video(bad, 4, "strided")


def test_damaged_video_can_be_read_leniently(tmp_path: Path) -> None:
    source = io.write_video(tmp_path / "clip.avi", _noise_clip())  # FFV1 slices carry CRCs
    _, flipped = list(_damaged_copies(source))[1]
    bad = tmp_path / "flipped.avi"
    bad.write_bytes(flipped)
    with pytest.raises(VideoReadError, match=r"flipped\.avi is damaged: FFmpeg reported"):
        io.read_video(bad)
    frames = io.read_video(bad, strict=False)  # what decodes, for data known to be glitchy
    assert frames.dtype == torch.uint8 and 0 < frames.shape[0] <= 12
    assert io.count_frames(bad, strict=False) == frames.shape[0]


@pytest.mark.parametrize(
    "content", [b"", b"not a video at all", bytes(range(256)) * 8, b"\x89PNG\r\n\x1a\n" + bytes(50)]
)
def test_foreign_or_empty_files_raise_naming_the_file(tmp_path: Path, content: bytes) -> None:
    for ext in ("mp4", "gif"):
        bad = tmp_path / f"bad.{ext}"
        bad.write_bytes(content)
        with pytest.raises(VideoReadError, match=r"bad\." + ext):
            io.read_video(bad)


def test_gif_claiming_a_huge_size_raises_naming_it(tmp_path: Path) -> None:
    import struct

    source = io.write_video(tmp_path / "small.gif", _noise_clip(2, 4))
    data = bytearray(source.read_bytes())
    data[6:10] = struct.pack("<HH", 60000, 60000)  # logical screen of 3.6 gigapixels
    start = data.index(0x2C, 13)  # the first image descriptor
    data[start + 5 : start + 9] = struct.pack("<HH", 60000, 60000)
    bomb = tmp_path / "bomb.gif"
    bomb.write_bytes(bytes(data))
    with pytest.raises(VideoReadError, match=r"bomb\.gif.*exceeds limit"):
        io.read_video(bomb)
    with pytest.raises(VideoReadError, match=r"bomb\.gif"):
        io.count_frames(bomb)


def test_damaged_frame_image_in_a_folder_raises_naming_it(tmp_path: Path) -> None:
    paths = io.write_frames(tmp_path / "frames", _noise_clip(4, 16))
    paths[2].write_bytes(paths[2].read_bytes()[:40])  # truncated PNG
    with pytest.raises(VideoReadError, match=paths[2].name):
        io.read_video(tmp_path / "frames")


def test_write_frames_prefix_cannot_escape_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix"):
        io.write_frames(tmp_path / "out", _noise_clip(2, 8), prefix="../escaped_")
    assert not list(tmp_path.glob("escaped_*"))


# --------------------------------------------------------------------------------------------------
# Weights files
# --------------------------------------------------------------------------------------------------


class _RunsCode:
    """A pickle payload whose loading would create ``marker`` (stands for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def _assert_clear(error: pytest.ExceptionInfo[BaseException], file: Path, found: str) -> None:
    message = str(error.value)
    assert isinstance(error.value, WeightsFileError) and isinstance(error.value, ValueError)
    assert str(file) in message and "state_dict" in message
    assert found in message, message
    assert "weights_only" not in message and "\n" not in message


def test_pickled_whole_model_is_refused_clearly(tmp_path: Path) -> None:
    file = tmp_path / "whole_model.pth"
    torch.save(tiny_cnn3d(), file)  # the whole module, not its state_dict
    with pytest.raises(WeightsFileError) as info:
        read_state_dict(file, published="nowhere")
    _assert_clear(info, file, "torch.nn.modules.container.Sequential")


def test_pickled_whole_model_through_zoo_load(tmp_path: Path) -> None:
    import torchvision.models.video as tvv

    file = tmp_path / "r3d.pth"
    torch.save(tvv.r3d_18(num_classes=3), file)
    with pytest.raises(ValueError, match=r"is not a state_dict") as info:
        zoo.load("r3d_18", weights=file, num_classes=3)
    _assert_clear(info, file, "VideoResNet")


@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_pickle_runs_no_code(tmp_path: Path, zip_format: bool) -> None:
    marker = tmp_path / "code_ran"
    file = tmp_path / "evil.pth"
    payload = {"weight": torch.zeros(2), "evil": _RunsCode(marker)}
    if zip_format:
        torch.save(payload, file)
    else:
        with file.open("wb") as f:
            pickle.dump(payload, f, protocol=2)
    with pytest.raises(WeightsFileError) as info:
        read_state_dict(file, published="nowhere")
    assert not marker.exists(), "loading the weights ran code from the file"
    _assert_clear(info, file, "would run code from the file")


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"", "empty"),
        (b"hello, these are not weights", "another format"),
        (bytes(range(256)), "another format"),
    ],
)
def test_garbage_weights_files(tmp_path: Path, content: bytes, found: str) -> None:
    file = tmp_path / "weights.pth"
    file.write_bytes(content)
    with pytest.raises(WeightsFileError) as info:
        read_state_dict(file, published="nowhere")
    _assert_clear(info, file, found)


@pytest.mark.parametrize("zip_format", [True, False])
def test_truncated_and_damaged_weights_files(tmp_path: Path, zip_format: bool) -> None:
    file = tmp_path / "good.pth"
    torch.save(tiny_cnn3d().state_dict(), file, _use_new_zipfile_serialization=zip_format)
    assert set(read_state_dict(file, published="x")) == set(tiny_cnn3d().state_dict())
    data = file.read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsFileError) as info:
        read_state_dict(truncated, published="x")
    _assert_clear(info, truncated, "truncated")
    header = tmp_path / "header.pth"
    header.write_bytes(bytes(16) + data[16:])
    with pytest.raises(WeightsFileError) as info:
        read_state_dict(header, published="x")
    _assert_clear(info, header, "holds")


def test_state_dict_saved_from_a_compiled_or_parallel_model_loads(tmp_path: Path) -> None:
    net = tiny_cnn3d()
    for prefix in ("module.", "_orig_mod."):
        file = tmp_path / f"{prefix.strip('.')}.pth"
        torch.save({f"{prefix}{k}": v for k, v in net.state_dict().items()}, file)
        state = read_state_dict(file, published="x")
        assert set(state) == set(net.state_dict())


# --------------------------------------------------------------------------------------------------
# Hugging Face preprocessor_config.json
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def videomae_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    transformers = pytest.importorskip("transformers")
    config = transformers.VideoMAEConfig(
        image_size=32,
        patch_size=16,
        num_frames=4,
        tubelet_size=2,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
    )
    folder = tmp_path_factory.mktemp("videomae")
    transformers.VideoMAEForVideoClassification(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2, 3]", "holds a JSON list"),
        ('"just a string"', "holds a JSON str"),
        ('{"image_mean": [0.5, 0.5', "is not valid JSON"),
        ('{"image_mean": "red"}', "image_mean must be 3 numbers"),
        ('{"image_std": [0.5, 0, 0.5]}', "image_std must be positive"),
        ('{"size": {"shortest_edge": "big"}}', "shortest_edge must be a positive int"),
    ],
)
def test_bad_preprocessor_config_names_the_file(
    videomae_folder: Path, tmp_path: Path, text: str, problem: str
) -> None:
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    for f in videomae_folder.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config = folder / "preprocessor_config.json"
    config.write_text(text)
    with pytest.raises(ValueError, match=problem) as info:
        zoo.load("videomae", weights=folder)
    assert str(config) in str(info.value)


def test_good_preprocessor_config_is_used(videomae_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    for f in videomae_folder.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    settings = {"image_mean": [0.4, 0.5, 0.6], "image_std": [0.2, 0.3, 0.4]}
    settings["size"] = {"shortest_edge": 40}  # type: ignore[assignment]
    (folder / "preprocessor_config.json").write_text(json.dumps(settings))
    adapter = zoo.load("videomae", weights=folder)
    assert adapter.mean == (0.4, 0.5, 0.6) and adapter.std == (0.2, 0.3, 0.4)
    assert adapter.preprocessing.resize == (40,)


# --------------------------------------------------------------------------------------------------
# Models wrapped by torch.compile, DataParallel and DistributedDataParallel
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def process_group(tmp_path: Path) -> Iterator[None]:
    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _wrappers() -> dict[str, tuple[str, object]]:
    return {
        "compile": ("_orig_mod", lambda m: torch.compile(m, backend="eager")),
        "DataParallel": ("module", nn.DataParallel),
    }


@pytest.mark.parametrize("kind", ["compile", "DataParallel", "DDP"])
def test_wrap_finds_the_layer_through_wrappers(kind: str, request: pytest.FixtureRequest) -> None:
    net = tiny_cnn3d()
    if kind == "DDP":
        request.getfixturevalue("process_group")
        attr, wrapped = "module", nn.parallel.DistributedDataParallel(tiny_cnn3d())
    else:
        attr, make = _wrappers()[kind]
        wrapped = make(tiny_cnn3d())  # type: ignore[operator]
    assert zoo.unwrap_model(wrapped).__class__ is nn.Sequential
    assert zoo.find_layer_name(wrapped, "2") == f"{attr}.2"
    plain = zoo.wrap(net, (0.5,) * 3, (0.25,) * 3, clip_len=4, size=16, layer="2")
    adapter = zoo.wrap(wrapped, (0.5,) * 3, (0.25,) * 3, clip_len=4, size=16, layer="2")
    assert adapter.layer == f"model.{attr}.2"
    x = torch.randn(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    expected = GradCAM3D(plain, layer=plain.layer).attribute(x, target=1)
    maps = GradCAM3D(adapter, layer=adapter.layer).attribute(x, target=1)
    assert maps.shape == (2, 1, 4, 16, 16) and float(maps.abs().sum()) > 0
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="nope"):
        zoo.wrap(wrapped, (0.5,) * 3, (0.25,) * 3, clip_len=4, size=16, layer="nope")


@pytest.mark.parametrize("kind", ["compile", "DataParallel"])
def test_zoo_default_layer_and_weights_through_wrappers(kind: str, tmp_path: Path) -> None:
    import torchvision.models.video as tvv

    attr, make = _wrappers()[kind]
    source = tvv.r3d_18(num_classes=3)
    file = tmp_path / "r3d.pth"
    torch.save(source.state_dict(), file)
    wrapped = make(tvv.r3d_18(num_classes=3))  # type: ignore[operator]
    adapter = zoo.load("r3d_18", weights=file, num_classes=3, model=wrapped)
    assert adapter.layer == f"model.{attr}.layer4"
    inner = zoo.unwrap_model(wrapped)
    assert all(torch.equal(inner.state_dict()[k], v) for k, v in source.state_dict().items())
    # MViT's default layer is computed from the network's blocks, also through a wrapper.
    mvit = tvv.mvit_v2_s()
    mvit.blocks = mvit.blocks[:2]
    mvit_adapter = zoo.load("mvit_v2_s", model=make(mvit))  # type: ignore[operator]
    assert mvit_adapter.layer == f"model.{attr}.blocks.1.norm1"


def test_find_layer_name_reports_missing_layers() -> None:
    with pytest.raises(ValueError, match=r"layer 'layer9' not found in DataParallel .* 0, 1"):
        zoo.find_layer_name(nn.DataParallel(tiny_cnn3d()), "layer9")
