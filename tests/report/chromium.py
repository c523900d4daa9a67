"""A tiny client of a headless Chromium over its DevTools protocol, for tests and benchmarks only.

The browser is the system's (``apt-get install -y chromium``), started with
``--remote-debugging-pipe``: commands and events are JSON messages ended by a NUL byte, written to
the browser's file descriptor 3 and read from its descriptor 4. Only the standard library is used
(no websocket client, no driver package). One page is opened and driven through a flattened session.

Example:
    >>> with Browser.start() as browser:                               # doctest: +SKIP
    ...     browser.open(Path("report.html").as_uri())
    ...     browser.evaluate("document.title")
    'report'
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

#: Names under which the system's Chromium may be installed.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The path of the system's Chromium, or ``None`` when none is installed."""
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _above_ten(fd: int) -> int:
    """``fd`` moved to a close-on-exec descriptor >= 10 (the old one is closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class BrowserError(RuntimeError):
    """The browser answered a command with an error, died, or did not answer in time."""


class Browser:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (use :meth:`start`)."""

    def __init__(
        self, process: subprocess.Popen[bytes], to_browser: int, from_browser: int, profile: str
    ) -> None:
        self.process = process
        self._out = to_browser
        self._in = from_browser
        self._profile = profile
        self._buffer = b""
        self._next_id = 0
        self._events: deque[dict[str, Any]] = deque()
        self.session: str | None = None

    # -- life ------------------------------------------------------------------------------------------
    @classmethod
    def start(
        cls, executable: str | None = None, *, width: int = 1280, height: int = 900
    ) -> Browser:
        """Start a headless browser with one blank page attached.

        Raises:
            BrowserError: no Chromium is installed.
        """
        exe = executable or find_browser()
        if exe is None:
            raise BrowserError("no Chromium found; install it with `apt-get install -y chromium`")
        profile = tempfile.mkdtemp(prefix="videoattr-chromium-")
        # Commands go in through (to_r, to_w), replies come back through (from_r, from_w). The
        # browser's ends are first moved to descriptors >= 10, so that putting them on 3 and 4 in
        # the child cannot overwrite one another; dup2 makes 3 and 4 inheritable, and every other
        # descriptor of this process is close-on-exec (close_fds=False keeps only those two).
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        to_r, from_w = _above_ten(to_r), _above_ten(from_w)

        def remap() -> None:  # in the child: the browser reads fd 3 and writes fd 4
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)

        args = [
            exe,
            "--headless=new",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=remap,
            close_fds=False,
        )
        os.close(to_r)
        os.close(from_w)
        browser = cls(process, to_w, from_r, profile)
        try:
            browser._attach()
        except BaseException:
            browser.close()
            raise
        return browser

    def _attach(self) -> None:
        targets = self.command("Target.getTargets", timeout=30.0)["targetInfos"]
        pages = [t for t in targets if t.get("type") == "page"]
        target = (
            pages[0]["targetId"]
            if pages
            else self.command("Target.createTarget", {"url": "about:blank"})["targetId"]
        )
        self.session = self.command("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.page("Page.enable")
        self.page("Page.setLifecycleEventsEnabled", {"enabled": True})
        self.page("Runtime.enable")

    def close(self) -> None:
        """Ask the browser to quit, wait for it (kill it after 5 s) and remove its profile."""
        try:
            if self.process.poll() is None:
                with contextlib.suppress(OSError):
                    self._send("Browser.close", {}, None)
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        finally:
            for fd in (self._out, self._in):
                with contextlib.suppress(OSError):
                    os.close(fd)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- protocol ------------------------------------------------------------------------------------
    def _send(self, method: str, params: dict[str, Any], session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _read(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("the browser did not answer in time")
            ready, _, _ = select.select([self._in], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError("the browser closed its pipe (it died)")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def command(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send a command and return its result; events read meanwhile are kept for :meth:`wait_event`.

        Raises:
            BrowserError: the browser answered with an error or not within ``timeout`` seconds.
        """
        sent = self._send(method, params or {}, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if message.get("id") == sent:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self._events.append(message)

    def page(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """A command to the attached page."""
        return self.command(method, params, session=self.session, **kw)

    def wait_event(
        self,
        method: str,
        *,
        timeout: float = 30.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The params of the next event called ``method`` for which ``where(params)`` holds
        (events read before it are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            while self._events:
                event = self._events.popleft()
                params: dict[str, Any] = event.get("params", {})
                if event.get("method") == method and (where is None or where(params)):
                    return params
            self._events.append(self._read(deadline))

    # -- conveniences --------------------------------------------------------------------------------
    def open(self, url: str, *, timeout: float = 60.0) -> float:
        """Navigate to ``url`` and wait for its load event; returns the seconds it took.

        The load event is the one of this navigation (matched by its loader id), never a late
        one of the page before.

        Raises:
            BrowserError: the navigation failed (e.g. ``net::ERR_FILE_NOT_FOUND``).
        """
        self._events.clear()
        start = time.perf_counter()
        reply = self.page("Page.navigate", {"url": url}, timeout=timeout)
        if reply.get("errorText"):
            raise BrowserError(f"cannot open {url}: {reply['errorText']}")
        loader = reply.get("loaderId")
        self.wait_event(
            "Page.lifecycleEvent",
            timeout=timeout,
            where=lambda p: (
                p.get("name") == "load" and (loader is None or p.get("loaderId") == loader)
            ),
        )
        return time.perf_counter() - start

    def navigate_error(self, url: str, *, timeout: float = 30.0) -> str | None:
        """The browser's error text when opening ``url`` fails, else ``None`` (after it loaded)."""
        try:
            self.open(url, timeout=timeout)
        except BrowserError as err:
            return str(err)
        return None

    def evaluate(self, expression: str, *, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable results only).

        Raises:
            BrowserError: the expression threw.
        """
        reply = self.page(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript error: {text}")
        return reply.get("result", {}).get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) in the middle of the element ``selector``."""
        box = self.evaluate(
            "(() => { const e = document.querySelector(" + json.dumps(selector) + ");"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if box is None:
            raise BrowserError(f"no element matches {selector!r}")
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.page(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def type_into(self, selector: str, text: str) -> None:
        """Focus the element ``selector``, clear it and type ``text`` as keyboard input."""
        self.evaluate(
            "(() => { const e = document.querySelector(" + json.dumps(selector) + ");"
            " e.focus(); e.select && e.select(); })()"
        )
        self.page(
            "Input.dispatchKeyEvent",
            {
                "type": "keyDown",
                "key": "Backspace",
                "code": "Backspace",
                "windowsVirtualKeyCode": 8,
            },
        )
        self.page(
            "Input.dispatchKeyEvent",
            {"type": "keyUp", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8},
        )
        if text:
            self.page("Input.insertText", {"text": text})

    def select_option(self, selector: str, value: str) -> None:
        """Choose ``value`` in the ``<select>`` element ``selector`` as a user would (a change event)."""
        self.evaluate(
            "(() => { const e = document.querySelector(" + json.dumps(selector) + ");"
            " e.focus(); e.value = " + json.dumps(value) + ";"
            " e.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )
