"""The native kernels' cache: checked before it is loaded, repaired when damaged, never a crash.

A library is built once (in a subprocess, so that this process never maps it) and copied into a fresh
cache folder for each test; the tests then damage the copy, take away the folder's write permission,
or point ``CXX`` at a compiler that fails or hangs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from videoattr.core import native, native_cache
from videoattr.methods.extremal.masks import MaskGenerator

needs_native = pytest.mark.skipif(
    not native.available(),
    reason=f"the native kernel cannot be built here: {native.status()}",
)
posix_only = pytest.mark.skipif(os.name != "posix", reason="process groups and modes are POSIX")


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, VIDEOATTR_CACHE_DIR=str(cache))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(native.__file__).parents[3]), *sys.path])
    return env


def _in_subprocess(cache: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=_env(cache),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding a library built by another process."""
    cache = tmp_path_factory.mktemp("built-cache")
    done = _in_subprocess(cache, "from videoattr.core import native; assert native.available()")
    assert done.returncode == 0, done.stderr
    return cache / "kernels"


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty private cache folder and no loaded library; the process's library is restored after."""
    monkeypatch.setenv("VIDEOATTR_CACHE_DIR", str(tmp_path / "cache"))
    native._forget()
    yield tmp_path / "cache" / "kernels"
    native._forget()


@pytest.fixture
def copied(built: Path, fresh: Path) -> Path:
    """A fresh cache folder holding a copy of the built library."""
    shutil.copytree(built, fresh)
    return fresh


def _record(folder: Path, variant: str = "openmp") -> tuple[Path, Path]:
    """The record of ``variant`` in ``folder`` and the library it names."""
    records = sorted(folder.glob(f"kernels-*-{variant}.json"))
    if not records:  # no OpenMP build here: the plain one is the cache's library
        records = sorted(folder.glob("kernels-*-plain.json"))
    (record,) = records
    return record, folder / json.loads(record.read_text())["library"]


def _pools_natively() -> None:
    gen = MaskGenerator((32, 32), 7, 11.0, kernel="native")
    params = torch.rand(2, *gen.grid_shape, dtype=torch.float64)
    _, native_padded = gen.generate(params)
    _, torch_padded = MaskGenerator((32, 32), 7, 11.0, kernel="pytorch").generate(params)
    torch.testing.assert_close(native_padded, torch_padded, atol=1e-12, rtol=0)


@needs_native
def test_a_built_library_is_recorded_with_its_size_and_digest(built: Path) -> None:
    record, library = _record(built)
    written = json.loads(record.read_text())
    data = library.read_bytes()
    assert written["size"] == len(data)
    assert written["sha256"] == hashlib.sha256(data).hexdigest()
    assert written["sha256"][:16] in library.name
    assert not list(built.glob(".staging-*"))


@needs_native
def test_a_truncated_library_is_rebuilt_not_loaded(copied: Path) -> None:
    """``truncate -s 10000`` used to kill every later call with SIGBUS: run it in its own process."""
    _, library = _record(copied)
    os.truncate(library, 10000)
    done = _in_subprocess(
        copied.parent,
        "import warnings, torch\n"
        "from videoattr.core import native\n"
        "from videoattr.methods.extremal.masks import MaskGenerator\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    gen = MaskGenerator((32, 32), kernel='native')\n"
        "    gen.generate(torch.rand(2, *gen.grid_shape))\n"
        "print(gen.last_kernel)\n"
        "print('|'.join(str(w.message) for w in caught))\n",
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    kernel, message = done.stdout.strip().splitlines()
    assert kernel == "native"
    assert message.count("damaged") == 1 and "10000 bytes" in message
    _, repaired = _record(copied)
    assert repaired.stat().st_size > 10000


@needs_native
@pytest.mark.parametrize("damage", ["empty", "garbage", "record"])
def test_a_damaged_cache_is_repaired_with_one_warning(copied: Path, damage: str) -> None:
    record, library = _record(copied)
    openmp = "-openmp" in record.name
    if damage == "empty":
        library.write_bytes(b"")
    elif damage == "garbage":
        library.write_bytes(os.urandom(library.stat().st_size))
    else:
        record.write_text("not json {")
    with pytest.warns(RuntimeWarning, match="damaged") as caught:
        assert native.available()
    assert len([w for w in caught if "damaged" in str(w.message)]) == 1
    assert native.library().openmp == openmp  # the damaged build itself, not the other variant
    _pools_natively()
    native._forget()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: no warning the next time
        assert native.available()


@needs_native
def test_a_library_lacking_a_kernel_is_rebuilt(copied: Path, tmp_path: Path) -> None:
    """The right ABI number but a missing symbol used to raise ``AttributeError``."""
    record, library = _record(copied)
    stub = tmp_path / "stub.cpp"
    stub.write_text(
        f'extern "C" int videoattr_pool_abi() {{ return {native.ABI_VERSION}; }}\n'
        'extern "C" int videoattr_pool_openmp() { return 0; }\n'
    )
    compiled = tmp_path / "stub.so"
    subprocess.run(
        [native_cache._compiler(), "-shared", "-fPIC", str(stub), "-o", str(compiled)],
        check=True,
        timeout=120,
    )
    data = compiled.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    library.unlink()
    forged = library.with_name(f"{library.name.rsplit('-', 1)[0]}-{digest[:16]}.so")
    forged.write_bytes(data)
    forged.chmod(0o700)
    written = json.loads(record.read_text())
    written.update(library=forged.name, size=len(data), sha256=digest)
    record.write_text(json.dumps(written))
    with pytest.warns(RuntimeWarning, match="lacks a kernel"):
        assert native.available()
    _pools_natively()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@needs_native
def test_a_full_disk_falls_back_once_and_leaves_nothing(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    fresh.mkdir(parents=True, mode=0o700)
    monkeypatch.setattr(native_cache.os, "fsync", full)
    gen = MaskGenerator((32, 32))
    with pytest.warns(RuntimeWarning, match="No space left on device") as caught:
        gen.generate(torch.rand(2, *gen.grid_shape))
    assert len(caught) == 1
    assert gen.last_kernel == "pytorch"
    assert _files(fresh) == []  # no staged library, no record, no failure marker


@needs_native
@posix_only
@pytest.mark.skipif(
    os.name == "posix" and os.geteuid() == 0, reason="root writes into read-only folders"
)
def test_a_read_only_cache_folder_falls_back_once_and_leaves_nothing(fresh: Path) -> None:
    fresh.mkdir(parents=True, mode=0o700)
    fresh.chmod(0o500)
    try:
        gen = MaskGenerator((32, 32))
        with pytest.warns(RuntimeWarning, match="cannot write to the cache folder") as caught:
            gen.generate(torch.rand(2, *gen.grid_shape))
        assert len(caught) == 1
        assert gen.last_kernel == "pytorch"
        assert _files(fresh) == []
    finally:
        fresh.chmod(0o700)


@needs_native
def test_staging_that_cannot_start_raises_no_raw_oserror(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a read-only folder does to ``mkstemp`` (as root the real one cannot be made)."""

    def read_only(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    fresh.mkdir(parents=True, mode=0o700)
    monkeypatch.setattr(native_cache.tempfile, "mkstemp", read_only)
    assert not native.available()
    assert "cannot write to the cache folder" in native.status()
    assert _files(fresh) == []


def _logging_compiler(tmp_path: Path, body: str) -> tuple[Path, Path]:
    log = tmp_path / "calls.log"
    script = tmp_path / "cxx"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n{body}\n')
    script.chmod(0o755)
    return script, log


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


@posix_only
def test_a_failed_build_is_not_retried_until_the_compiler_or_source_changes(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script, log = _logging_compiler(tmp_path, "echo 'error: this compiler is broken' >&2\nexit 1")
    monkeypatch.setenv("CXX", str(script))
    assert not native.available()
    first = _calls(log)
    assert first >= 2  # its version, then at least one build
    native._forget()  # as a new process would
    assert not native.available()
    assert _calls(log) == first  # not tried again
    assert "failed before" in native.status() and "this compiler is broken" in native.status()
    # another source: tried again
    source = native_cache._source()
    monkeypatch.setattr(native_cache, "_source", lambda: source + b"\n// another version\n")
    native._forget()
    assert not native.available()
    second = _calls(log)
    assert second > first
    # another compiler at the same path: tried again
    script.write_text(script.read_text() + "\n# updated\n")
    os.utime(script, ns=(time.time_ns(), time.time_ns() + 10**9))
    native._forget()
    assert not native.available()
    assert _calls(log) > second


@posix_only
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states in /proc")
def test_a_hanging_compiler_is_stopped_recorded_and_not_retried(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    script, log = _logging_compiler(
        tmp_path,
        'case "$1" in --version) echo "hanging-cxx 1.0";; '
        f"*) sleep 60 & echo $! > {pid_file}; wait;; esac",
    )
    monkeypatch.setenv("CXX", str(script))
    monkeypatch.setattr(native_cache, "BUILD_TIMEOUT_S", 1)
    started = time.monotonic()
    assert not native.available()
    assert time.monotonic() - started < 20  # not 60 s per build, not 4 builds
    assert _calls(log) == 2  # its version and one build: no other build with a hanging compiler
    assert "no answer after 1 s" in native.status()
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the compiler's own child is stopped too
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state in "ZX":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the hanging compiler's child {child} still runs")
    native._forget()
    assert not native.available()
    assert _calls(log) == 2  # recorded: not tried again


def test_a_tilde_in_the_cache_folder_is_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VIDEOATTR_CACHE_DIR", "~/x")
    assert native.cache_dir() == tmp_path / "x" / "kernels"
    monkeypatch.delenv("VIDEOATTR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "~/cache")
    assert native.cache_dir() == tmp_path / "cache" / "videoattr" / "kernels"
