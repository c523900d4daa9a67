"""A new user's first commands: a quick default method with its cost said before the work, Ctrl-C,
reproducible random weights, class names on the console."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from videoattr import demo_model, io, zoo
from videoattr.cli import build_parser, main
from videoattr.cli.loading import weights_settings
from videoattr.cli.methods import announce, build_method, preset_of
from videoattr.datasets import SyntheticMotion
from videoattr.methods import method_info, method_names
from videoattr.pipeline import as_method, explain_clip
from videoattr.pipeline.cost import method_cost


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1")


def test_default_method_is_quick_and_its_cost_is_said_first(tmp_path: Path) -> None:
    args = build_parser().parse_args(["explain", "--video", "x.mp4"])
    assert args.method == "grad_cam"
    assert method_info(args.method).kind == "cam"  # one forward and a partial backward
    batch = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(1)
    video = tmp_path / f"{demo_model.CLASS_NAMES[int(batch.labels[0])]}-001.mp4"
    io.write_video(video, batch.frames[0], fps=8)
    proc = subprocess.run(
        [sys.executable, "-m", "videoattr", "explain", "--video", str(video), "--model", "demo",
         "--no-gpu", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "grad_cam: 2 forwards per clip" in err and "expected about" in err
    assert "at most 16 clips per forward" in err and "--method step" in err
    name = demo_model.CLASS_NAMES[int(batch.labels[0])]
    assert f"explained class {name} (" in proc.stdout  # the class's name, not only its index


@pytest.mark.parametrize("name", method_names())
def test_every_method_says_its_cost_and_memory_bound_before_work(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # the attention methods read a transformer's attention: the demo transformer; the rest the demo CNN
    model = "demo-transformer" if method_info(name).kind == "attention" else "demo"
    adapter = zoo.load(model).eval()
    argv = ["explain", "--video", "x.mp4", "--model", model, "--method", name]
    args = build_parser().parse_args(argv)
    method = build_method(args, adapter)
    seconds = announce(method, adapter, torch.device("cpu"), preset_of(args), clips=3)
    err = capsys.readouterr().err
    assert err.startswith(f"{method.name}: ") and "expected about" in err and "3 clips" in err
    bound = method.attributor.max_batch_size
    assert (f"at most {bound} clips per forward" if bound else "memory: no bound") in err
    assert seconds > 0


def test_counted_forwards_are_the_forwards_run() -> None:
    """The count behind the estimate equals the forwards a call really runs (a hook counts them)."""
    adapter = zoo.load("demo").eval()
    x = torch.randn(1, 3, 16, 56, 56)
    for name, options in [
        ("integrated_gradients", {"steps": 6}),
        ("occlusion", {"window": (8, 28, 28)}),
        ("rise", {"n": 9}),
        ("smoothgrad", {"n": 4}),
    ]:
        method = as_method(name, adapter, {**options, "progress": False})
        rows: list[int] = []

        def count(_m: torch.nn.Module, i: tuple[torch.Tensor], seen: list[int] = rows) -> None:
            seen.append(i[0].shape[0])

        handle = adapter.register_forward_pre_hook(count)
        try:
            explain_clip(adapter, method, x, 1)
        finally:
            handle.remove()
        cost = method_cost(method, x.shape[1:])
        assert sum(rows) == cost.total, (name, rows, cost)


def test_same_seed_same_random_model_across_processes(tmp_path: Path) -> None:
    code = (
        "import sys, torch\n"
        "from videoattr.cli import build_parser\n"
        "from videoattr.cli.loading import load_model\n"
        "args = build_parser().parse_args(['explain', '--video', 'x', '--model', 'r3d_18', "
        "'--seed', sys.argv[1]])\n"
        "model = load_model(args, torch.device('cpu'))\n"
        "x = torch.linspace(-1, 1, 3 * 4 * 32 * 32).view(1, 3, 4, 32, 32)\n"
        "with torch.no_grad():\n"
        "    print(model(x)[0, :5].tolist())\n"
    )

    def logits(seed: int) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(seed)],
            capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert f"drawn with --seed {seed}" in proc.stderr
        return proc.stdout

    first = logits(3)
    assert logits(3) == first and logits(4) != first
    args = argparse.Namespace(weights=None, model="r3d_18", seed=3)
    assert weights_settings(args) == {"weights": "random", "weights_seed": 3}
    args = argparse.Namespace(weights="w.pth", model="r3d_18", seed=3)
    assert weights_settings(args) == {"weights": "w.pth"}


def test_ctrl_c_stops_with_one_line_and_keeps_finished_videos(tmp_path: Path) -> None:
    """SIGINT while the second video runs: exit 130, one line, no traceback, the first kept."""
    data = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS)
    short = data.sample(1).frames[0]  # 16 frames: one window
    videos = tmp_path / "videos"
    videos.mkdir()
    io.write_video(videos / "a-001.mp4", short, fps=8)
    long = torch.cat([data.sample(1, start=i).frames[0] for i in range(40)])  # 640 frames
    io.write_video(videos / "b-002.mp4", long, fps=8)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "videoattr", "explain", "--videos-dir", str(videos), "--model",
         "demo", "--whole-video", "--window-stride", "1", "--no-gpu", "--no-progress", "--out",
         str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # wait until the first video is written
            if line.startswith("a-001.mp4:"):
                break
        else:
            pytest.fail(f"the first video was not explained: {proc.communicate()[1][-2000:]}")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "[2/2] b-002.mp4" in err  # which video was running
    assert err.strip().splitlines()[-1].startswith("videoattr explain: interrupted;")
    written = sorted(p.name for p in (out / "grad_cam" / "demo" / "a").iterdir())
    assert [p for p in written if p.endswith((".json", ".png", ".npz"))], written


def test_run_prints_its_summary_once(tmp_path: Path) -> None:
    batch = SyntheticMotion(seed=5, **demo_model.DATASET_KWARGS).sample(2)
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(2):
        name = demo_model.CLASS_NAMES[int(batch.labels[i])]
        io.write_video(videos / f"{name}-00{i}.mp4", batch.frames[i], fps=8)
    proc = subprocess.run(
        [sys.executable, "-m", "videoattr", "run", "--videos-dir", str(videos), "--model", "demo",
         "--no-gpu", "--num-workers", "0", "--no-progress", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout + proc.stderr
    assert said.count("2 done, 0 skipped, 0 failed") == 1, said
    assert "about" in proc.stderr and "for 2 clips" in proc.stderr  # the estimate, with the total


def test_run_leaves_the_runner_log_as_it_found_it(tmp_path: Path) -> None:
    """The command's filter of the runner's closing lines is removed when the command ends."""
    runner_log = logging.getLogger("videoattr.runner")
    before = list(runner_log.filters)
    videos = tmp_path / "videos"
    videos.mkdir()
    clip = SyntheticMotion(seed=3, **demo_model.DATASET_KWARGS).sample(1).frames[0]
    io.write_video(videos / "right-0.mp4", clip)
    argv = ["run", "--videos-dir", str(videos), "--out", str(tmp_path / "out"), "--model", "demo"]
    code = main([*argv, "--method", "grad_cam", "--no-gpu", "--no-progress", "--num-workers", "0"])
    assert code == 0
    assert runner_log.filters == before
