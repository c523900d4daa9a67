"""Building, checking and caching the native kernels' library (see [`native`][videoattr.core.native]).

The library is compiled once per machine and source version into a private cache folder and checked
before anything is loaded: its size and SHA-256 are recorded when it is built
(``kernels-<key>-<variant>.json``; the library's own name ends with its digest, so processes that
build at the same time never overwrite each other's file), and a library that differs from its
record, or lacks a kernel, is rebuilt with one warning. A folder that cannot be written (read-only, a
full disk) leaves nothing behind. A failed build is recorded (``failed-<key>-<variant>.txt``) and not
tried again until the compiler or the source changes; a compiler that does not answer within
``BUILD_TIMEOUT_S`` seconds is stopped with every process it started.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import torch

#: Calling convention the Python side expects (``videoattr_pool_abi()`` in the library).
ABI_VERSION = 3
#: Seconds a build may take before it counts as failed (a few seconds with ``g++``). A compiler that
#: does not answer in time is stopped, with every process it started, and not tried again.
BUILD_TIMEOUT_S = 60
#: Seconds ``CXX --version`` may take.
VERSION_TIMEOUT_S = 10
#: Version of the cache folder's layout (part of every file name's key).
_LAYOUT = "2"
#: Name of a cached library: key, variant and the first 16 hex digits of its SHA-256.
_LIBRARY_NAME = re.compile(r"kernels-[0-9a-f]{24}-[a-z]+-[0-9a-f]{16}\.so")
_FLAGS = ("-O3", "-std=c++17", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math")
#: Builds tried in turn: with OpenMP (the library then runs on PyTorch's own OpenMP threads, as
#: ``libgomp`` is already loaded), then without (frames are split over Python threads instead).
_VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (("openmp", ("-fopenmp",)), ("plain", ()))


class NativeUnavailable(RuntimeError):
    """The native kernels cannot be built or loaded here (the message says why)."""


class _Unsafe(NativeUnavailable):
    """A library or folder someone else could have written: nothing more is tried."""


class _BuildFailed(NativeUnavailable):
    """The compiler failed: recorded, and not tried again until the compiler or the source changes."""


class _BuildTimedOut(_BuildFailed):
    """The compiler did not answer in time: no other build is tried with it."""


def cache_dir() -> Path:
    """Folder the compiled library lives in (``VIDEOATTR_CACHE_DIR``, else the user's cache).

    A leading ``~`` is expanded in both ``VIDEOATTR_CACHE_DIR`` and ``XDG_CACHE_HOME``.
    """
    root = os.environ.get("VIDEOATTR_CACHE_DIR")
    xdg = os.environ.get("XDG_CACHE_HOME")
    try:
        if root:
            base = Path(root).expanduser()
        else:
            home = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
            base = home / "videoattr"
    except (RuntimeError, KeyError) as error:  # no home directory
        raise NativeUnavailable(f"no cache folder: {error}; set VIDEOATTR_CACHE_DIR") from error
    return base / "kernels"


def _private(path: Path) -> str | None:
    """Why ``path`` may not be trusted (owned by someone else or writable by others), or ``None``."""
    if os.name != "posix":
        return None
    info = path.stat()
    if info.st_uid != os.getuid():
        return f"{path} belongs to another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by other users (mode {stat.filemode(info.st_mode)})"
    return None


def _compiler() -> str:
    chosen = os.environ.get("CXX")
    candidates = [chosen] if chosen else ["c++", "g++", "clang++"]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    raise NativeUnavailable(
        f"no C++ compiler found (looked for {', '.join(candidates)}; set CXX to choose one)"
    )


def _run_tool(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``command``; after ``timeout`` seconds stop it and every process it started.

    Raises:
        _BuildFailed: the command could not be started or did not finish in time.
    """
    posix = os.name == "posix"
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=posix,  # its own process group: a timeout stops the whole group
        )
    except OSError as error:
        raise _BuildFailed(f"{' '.join(command)}: {error}") from error
    with process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                if posix:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=5)
            raise _BuildTimedOut(
                f"{' '.join(command)}: no answer after {timeout:g} s (stopped)"
            ) from None
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def _compiler_identity(compiler: str) -> str:
    """The compiler's path, size and modification time: a failed build is retried once it changes."""
    try:
        info = Path(compiler).resolve().stat()
    except OSError:
        return compiler
    return f"{Path(compiler).resolve()}:{info.st_size}:{info.st_mtime_ns}"


def _machine_fingerprint(compiler: str) -> str:
    """Compiler version and CPU features: a library built with ``-march=native`` suits only its CPU."""
    version = _run_tool([compiler, "--version"], VERSION_TIMEOUT_S).stdout
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            cpu = next((line for line in info if line.startswith(("flags", "Features"))), cpu)
    except OSError:
        pass
    return "\n".join([version, cpu, platform.machine(), platform.system()])


def _publish(target: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``target`` atomically; on failure (read-only folder, full disk) leave nothing.

    Raises:
        NativeUnavailable: the file could not be written.
    """
    staged: str | None = None
    try:
        fd, staged = tempfile.mkstemp(dir=target.parent, prefix=".staging-", suffix=target.suffix)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(staged, mode)
        os.replace(staged, target)
    except OSError as error:
        if staged is not None:
            with contextlib.suppress(OSError):
                os.unlink(staged)
        raise NativeUnavailable(
            f"cannot write to the cache folder {target.parent}: {error}"
        ) from error


def _compile(source: bytes, compiler: str, extra: tuple[str, ...]) -> bytes:
    """The library compiled from ``source`` (built in a temporary folder).

    Raises:
        _BuildFailed: the compiler failed (its words are in the message) or did not answer in time.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="videoattr-build-") as work:
            src = Path(work) / "native_kernels.cpp"
            src.write_bytes(source)
            out = Path(work) / "kernels.so"
            errors = []
            # -march=native where the compiler takes it; some (Apple's clang on arm64) do not.
            for arch in (["-march=native"], []):
                command = [compiler, *_FLAGS, *extra, *arch, str(src), "-o", str(out)]
                try:
                    done = _run_tool(command, BUILD_TIMEOUT_S)
                except _BuildTimedOut:
                    raise
                except _BuildFailed as error:
                    errors.append(str(error))
                    continue
                if done.returncode == 0:
                    return out.read_bytes()
                errors.append(f"{' '.join(command)}:\n{done.stderr.strip()[-2000:]}")
    except OSError as error:  # the temporary folder: not the compiler's fault
        raise NativeUnavailable(f"cannot build in a temporary folder: {error}") from error
    raise _BuildFailed("building the native pooling kernel failed:\n" + "\n".join(errors))


def _build(folder: Path, key: str, variant: str, source: bytes, compiler: str) -> None:
    """Compile the ``variant`` and store it with its record (size, SHA-256) in ``folder``.

    The library's name holds its digest, so processes that build at the same time never overwrite
    each other's file; the record, replaced atomically, names the one to load.
    """
    data = _compile(source, compiler, dict(_VARIANTS)[variant])
    digest = hashlib.sha256(data).hexdigest()
    library = folder / f"kernels-{key}-{variant}-{digest[:16]}.so"
    record = {"library": library.name, "size": len(data), "sha256": digest, "abi": ABI_VERSION}
    _publish(library, data, 0o700)
    try:
        _publish(_record_path(folder, key, variant), json.dumps(record).encode(), 0o600)
    except NativeUnavailable:
        with contextlib.suppress(OSError):
            library.unlink()
        raise


def _record_path(folder: Path, key: str, variant: str) -> Path:
    return folder / f"kernels-{key}-{variant}.json"


def _verified(folder: Path, record_path: Path) -> NativeLibrary:
    """Load the library ``record_path`` names once its size, digest and symbols are checked.

    Raises:
        _Unsafe: the record or the library could have been written by someone else.
        NativeUnavailable: a missing, unreadable or damaged record or library (rebuild it).
    """
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        name, size, digest = str(record["library"]), int(record["size"]), str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NativeUnavailable(f"{record_path} is unreadable ({error})") from error
    if not _LIBRARY_NAME.fullmatch(name):
        raise NativeUnavailable(f"{record_path} names no library of this cache ({name!r})")
    path = folder / name
    try:
        distrust = _private(record_path) or _private(path)
        if distrust:
            raise _Unsafe(f"not loading an unsafe library: {distrust}")
        data = path.read_bytes()
    except OSError as error:
        raise NativeUnavailable(f"{path} is unreadable ({error})") from error
    if len(data) != size:
        raise NativeUnavailable(f"{path} holds {len(data)} bytes where {size} were written")
    if hashlib.sha256(data).hexdigest() != digest or not name.endswith(f"-{digest[:16]}.so"):
        raise NativeUnavailable(f"{path} differs from the SHA-256 recorded when it was built")
    try:
        return NativeLibrary(path)
    except OSError as error:
        raise NativeUnavailable(f"loading {path} failed: {error}") from error


def _discard(folder: Path, record_path: Path) -> None:
    """Remove a damaged record and the library it names (a read-only folder keeps them)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        name = str(json.loads(record_path.read_text(encoding="utf-8"))["library"])
        if _LIBRARY_NAME.fullmatch(name):
            (folder / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        record_path.unlink(missing_ok=True)


class NativeLibrary:
    """The loaded library: its path, whether it runs on OpenMP threads, and its kernels by dtype."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lib = ctypes.CDLL(str(path))
        try:
            self._bind(lib)
        except AttributeError as error:  # a symbol is missing
            raise NativeUnavailable(
                f"{path} lacks a kernel this videoattr calls ({error})"
            ) from error
        self._lib = lib

    def _bind(self, lib: ctypes.CDLL) -> None:
        path = self.path
        lib.videoattr_pool_abi.restype = ctypes.c_int32
        abi = lib.videoattr_pool_abi()
        if abi != ABI_VERSION:
            raise NativeUnavailable(f"{path} speaks ABI {abi}, this videoattr needs {ABI_VERSION}")
        pointer, index = ctypes.c_void_p, ctypes.c_int64
        self.forward: dict[torch.dtype, Callable[..., None]] = {}
        self.backward: dict[torch.dtype, Callable[..., None]] = {}
        self.blend_forward: dict[torch.dtype, Callable[..., None]] = {}
        self.blend_backward: dict[torch.dtype, Callable[..., None]] = {}
        for dtype, suffix, scalar in (
            (torch.float32, "f32", ctypes.c_float),
            (torch.float64, "f64", ctypes.c_double),
        ):
            fwd = getattr(lib, f"videoattr_pool_forward_{suffix}")
            fwd.argtypes = [*[pointer] * 5, index, index, ctypes.c_int32, pointer, scalar]
            fwd.restype = None
            bwd = getattr(lib, f"videoattr_pool_backward_{suffix}")
            bwd.argtypes = [*[pointer] * 8, index, index, ctypes.c_int32, pointer, scalar]
            bwd.restype = None
            self.forward[dtype] = fwd
            self.backward[dtype] = bwd
            blend = getattr(lib, f"videoattr_blend_forward_{suffix}")
            blend.argtypes = [*[pointer] * 4, index, index, ctypes.c_int32, pointer]
            blend.restype = None
            blend_grad = getattr(lib, f"videoattr_blend_backward_{suffix}")
            blend_grad.argtypes = [*[pointer] * 5, index, index, ctypes.c_int32, pointer]
            blend_grad.restype = None
            self.blend_forward[dtype] = blend
            self.blend_backward[dtype] = blend_grad
        lib.videoattr_pool_openmp.restype = ctypes.c_int32
        self.openmp = bool(lib.videoattr_pool_openmp())


def _source() -> bytes:
    """The kernels' C++ source, shipped with the package."""
    return resources.files("videoattr.core").joinpath("native_kernels.cpp").read_bytes()


def load_library() -> NativeLibrary:
    """The cached library, built (or repaired) if needed; raises `NativeUnavailable` with the reason."""
    source = _source()
    compiler = _compiler()
    folder = cache_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise NativeUnavailable(f"cannot create the cache folder {folder}: {error}") from error
    distrust = _private(folder)
    if distrust:
        raise _Unsafe(f"not loading native code from an unsafe folder: {distrust}")
    # Failed builds are recorded per compiler and source, and not tried again until either changes.
    failed = hashlib.sha256(
        _LAYOUT.encode()
        + source
        + _compiler_identity(compiler).encode()
        + " ".join(_FLAGS).encode()
    ).hexdigest()[:24]
    errors: list[str] = []
    pending: list[tuple[str, Path]] = []
    for variant, _ in _VARIANTS:
        marker = folder / f"failed-{failed}-{variant}.txt"
        try:
            earlier = marker.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            pending.append((variant, marker))
        else:
            errors.append(
                f"[{variant}] building with {compiler} failed before (delete {marker} to try again):"
                f"\n{earlier}"
            )
    key = ""
    if pending:
        try:
            key = hashlib.sha256(
                _LAYOUT.encode()
                + source
                + _machine_fingerprint(compiler).encode()
                + " ".join(_FLAGS).encode()
            ).hexdigest()[:24]
        except _BuildFailed as error:  # the compiler does not even say its version
            for variant, marker in pending:
                _record_failure(marker, str(error))
                errors.append(f"[{variant}] {error}")
            pending = []
    for position, (variant, marker) in enumerate(pending):
        try:
            return _cached_or_built(folder, key, variant, source, compiler)
        except _Unsafe:
            raise
        except _BuildTimedOut as error:  # a hanging compiler: no other build is tried with it
            for _, skipped in pending[position:]:
                _record_failure(skipped, str(error))
            errors.append(f"[{variant}] {error}")
            break
        except _BuildFailed as error:
            _record_failure(marker, str(error))
            errors.append(f"[{variant}] {error}")
        except NativeUnavailable as error:
            errors.append(f"[{variant}] {error}")
    raise NativeUnavailable("\n".join(errors))


def _record_failure(marker: Path, message: str) -> None:
    """Record a failed build (where the folder can be written: else it is simply tried again)."""
    with contextlib.suppress(NativeUnavailable):
        _publish(marker, message[-4000:].encode(), 0o600)


def _cached_or_built(
    folder: Path, key: str, variant: str, source: bytes, compiler: str
) -> NativeLibrary:
    """The cached library of ``variant``, built if missing and rebuilt (with a warning) if damaged."""
    record_path = _record_path(folder, key, variant)
    damage = None
    if record_path.exists():
        try:
            return _verified(folder, record_path)
        except _Unsafe:
            raise
        except NativeUnavailable as error:
            damage = str(error)
            _discard(folder, record_path)
    _build(folder, key, variant, source, compiler)
    loaded = _verified(folder, record_path)
    if damage is not None:
        warnings.warn(
            f"the native kernels' cache was damaged ({damage}); rebuilt it as {loaded.path}",
            RuntimeWarning,
            stacklevel=2,
        )
    return loaded
