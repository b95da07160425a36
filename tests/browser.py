"""Open a page in a real headless Chromium over the DevTools protocol: the console
errors, every network request, which charts rendered, and PNG screenshots.

Used by tests/outputs/test_html_report.py; also runnable by hand to look at a report:
``python tests/browser.py results/base-2027/report.html shot.png``.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
CHARTS_SCRIPT = """
JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (div) {
  var box = div.getBoundingClientRect();
  return {id: div.id, svg: div.querySelectorAll('.main-svg').length,
          marks: div.querySelectorAll('.trace, .point, .bars path, .heatmaplayer image').length,
          x: box.left + window.scrollX, y: box.top + window.scrollY,
          width: box.width, height: box.height};
}))
"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    """What opening a page showed."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    screenshot: bytes = b""
    chart_shots: dict[str, bytes] = field(default_factory=dict)

    @property
    def outside_requests(self) -> list[str]:
        """Requests other than the page itself and inline data."""
        inline = ("data:", "blob:", "about:")
        return [url for url in self.requests if url != self.url and not url.startswith(inline)]


class _DevTools:
    def __init__(self, socket_url: str) -> None:
        import websocket

        self.socket = websocket.create_connection(socket_url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if any(event.get("method") == method for event in self.events):
            return
        while time.monotonic() < deadline:
            self.socket.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self.socket.recv())
            self.events.append(message)
            if message.get("method") == method:
                return
        raise TimeoutError(f"no {method} within {timeout} s")

    def close(self) -> None:
        self.socket.close()


def _debugger_url(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        time.sleep(0.05)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
        targets = json.loads(answer.read())
    page = next(target for target in targets if target.get("type") == "page")
    return str(page["webSocketDebuggerUrl"])


def visit(page: Path, *, width: int = 1400, height: int = 1000, timeout: float = 60) -> PageVisit:
    """Open ``page`` (a local file), wait for it and its charts, collect everything."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed")
    url = page.resolve().as_uri()
    # Chromium's helper processes may still write into the profile as the browser exits:
    # a leftover file is not a test failure
    with tempfile.TemporaryDirectory(
        prefix="allocator-chromium-", ignore_cleanup_errors=True
    ) as profile:
        command = [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            tools = _DevTools(_debugger_url(Path(profile), process, timeout))
            try:
                return _load(tools, url, width, timeout)
            finally:
                tools.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _load(tools: _DevTools, url: str, width: int, timeout: float) -> PageVisit:
    for domain in ("Runtime", "Log", "Network", "Page"):
        tools.call(f"{domain}.enable")
    tools.call("Page.navigate", url=url)
    tools.wait_for("Page.loadEventFired", timeout)
    result = PageVisit(url)
    deadline = time.monotonic() + timeout
    while True:
        answer = tools.call("Runtime.evaluate", expression=CHARTS_SCRIPT, returnByValue=True)
        result.charts = json.loads(answer["result"]["value"])
        drawn = all(chart["svg"] > 0 for chart in result.charts)
        if (drawn and result.charts) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    tools.call("Runtime.evaluate", expression="1")  # drains events sent meanwhile
    metrics = tools.call("Page.getLayoutMetrics")
    content = metrics.get("cssContentSize") or metrics["contentSize"]
    result.screenshot = _shot(tools, 0, 0, width, content["height"])
    for chart in result.charts:
        result.chart_shots[chart["id"]] = _shot(
            tools, chart["x"], chart["y"], chart["width"], chart["height"]
        )
    _collect(tools.events, result)
    return result


def _shot(tools: _DevTools, x: float, y: float, width: float, height: float) -> bytes:
    clip = {"x": x, "y": y, "width": max(width, 1), "height": max(height, 1), "scale": 1}
    answer = tools.call(
        "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
    )
    return base64.b64decode(answer["data"])


def _collect(events: list[dict[str, Any]], result: PageVisit) -> None:
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            result.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(arg.get("value", arg.get("description", ""))) for arg in params["args"]]
            result.console_errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            result.console_errors.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            result.console_errors.append(f"log: {params['entry'].get('text')}")


def ink(png: bytes) -> tuple[float, int]:
    """How much of an image is not background: the share of pixels that differ from
    the most common colour, and the number of distinct colours."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.thumbnail((800, 800))
    counts = image.getcolors(maxcolors=1 << 24) or []
    total = sum(count for count, _ in counts)
    background = max(count for count, _ in counts) if counts else total
    return (total - background) / max(total, 1), len(counts)


def main() -> None:
    page, shot = Path(sys.argv[1]), Path(sys.argv[2])
    seen = visit(page)
    shot.write_bytes(seen.screenshot)
    print(
        json.dumps(
            {
                "console_errors": seen.console_errors,
                "outside_requests": seen.outside_requests,
                "charts": [{k: chart[k] for k in ("id", "svg", "marks")} for chart in seen.charts],
                "ink": ink(seen.screenshot),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
