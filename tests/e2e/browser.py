"""Drive Debian's headless Chromium over the DevTools protocol (no downloaded browser, no playwright).

A fresh ``--user-data-dir`` per browser; the DevTools port is chosen by Chromium
(``--remote-debugging-port=0``) and read back from ``DevToolsActivePort``. The page is driven with
a few protocol calls: navigate, evaluate JavaScript, wait for load, capture a screenshot.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1200,1600", "--lang=zh-CN"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._id = 0
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 20) -> dict[str, Any]:
        with self._lock:
            self._id += 1
            mid = self._id
            self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
            deadline = time.time() + timeout
            while True:
                msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.time())))
                if msg.get("id") == mid:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg.get("result", {})
                self._events.append(msg)

    def wait_event(self, name: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self._events):
                if e.get("method") == name:
                    return self._events.pop(i)
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.time())))
            self._events.append(msg)

    def navigate(self, url: str) -> None:
        self._events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"JS error in {expression!r}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def click_and_wait(self, selector: str) -> None:
        """Click a link or button that loads a new page, and wait for it."""
        self._events.clear()
        ok = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                       f"if (!e) return false; e.click(); return true; }})()")
        assert ok, f"nothing to click at {selector}"
        self.wait_event("Page.loadEventFired")

    def text(self, selector: str) -> str | None:
        return self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                         f"return e ? e.textContent.trim() : null; }})()")

    def texts(self, selector: str) -> list[str]:
        return self.eval(f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
                         f".map(e => e.textContent.trim())")

    def screenshot(self, selector: str | None = None, scale: float = 1) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if selector:
            box = self.eval(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            f".getBoundingClientRect(); return [r.left + window.scrollX, r.top + window.scrollY, "
                            f"r.width, r.height]; }})()")
            pad = 16
            params["clip"] = {"x": max(0, box[0] - pad), "y": max(0, box[1] - pad), "width": box[2] + 2 * pad,
                              "height": box[3] + 2 * pad, "scale": scale}
            params["captureBeyondViewport"] = True
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])


@contextmanager
def chromium() -> Iterator[Page]:
    """A headless Chromium with a fresh profile, and its first page, ready for DevTools calls."""
    exe = chromium_path()
    assert exe is not None, "chromium is not installed (apt-get install -y chromium)"
    profile = Path(tempfile.mkdtemp(prefix="caseledger-chromium-"))
    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if proc.poll() is not None or time.time() > deadline:
                msg = f"chromium did not start (exit {proc.poll()})"
                raise RuntimeError(msg)
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.loads(r.read())
        target = next(t for t in targets if t.get("type") == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=10) as ws:
            page = Page(ws)
            page.send("Page.enable")
            page.send("Runtime.enable")
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url: str) -> str:
    """``chromium --headless --dump-dom URL``: the DOM after scripts ran."""
    exe = chromium_path()
    assert exe is not None
    with tempfile.TemporaryDirectory(prefix="caseledger-chromium-") as profile:
        out = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=60, check=True)
    return out.stdout
