"""``kerasdl dashboard --serve``: the same dashboard in a web page (textual-serve).

The browser test starts the real command on a finished run, fetches the page, then drives
headless Chromium through the DevTools protocol: the page connects by websocket and draws with
xterm.js, so the screenshot waits until the dashboard's first bytes have arrived and the screen
stops changing. It skips without textual-serve (the extra ``serve``) or without Chromium
(Debian's ``chromium`` package), as on a fresh clone's CI.

``python tests/tui/test_dashboard_serve.py docs/images/dashboard-serve.png`` takes the same
screenshot for the docs.
"""

import asyncio
import base64
import contextlib
import importlib.util
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import urllib.request
import zlib
from pathlib import Path
from typing import ClassVar

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))  # tui_scenarios, when run as a script

import tui_scenarios

from kerasdl.cli import dashboard as dashboard_cli

WINDOW = (1200, 900)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def cli():
    app = typer.Typer()
    app.command()(dashboard_cli.dashboard)
    app.command("other")(lambda: None)  # two commands: `dashboard` is a subcommand
    return app


# ------------------------------------------------------------------ the command, no browser


class FakeServer:
    made: ClassVar[list] = []

    def __init__(self, command, host, port, title=None, **kwargs):
        self.command, self.host, self.port, self.title = command, host, port, title
        FakeServer.made.append(self)

    def serve(self, debug=False):
        self.served = True


@pytest.fixture
def fake_textual_serve(monkeypatch):
    FakeServer.made = []
    package = types.ModuleType("textual_serve")
    server = types.ModuleType("textual_serve.server")
    server.Server = FakeServer
    monkeypatch.setitem(sys.modules, "textual_serve", package)
    monkeypatch.setitem(sys.modules, "textual_serve.server", server)
    return FakeServer.made


def test_serve_without_textual_serve_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # import fails
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    result = CliRunner().invoke(cli(), ["dashboard", "--serve", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert 'pip install "kerasdl[serve]"' in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_serve_runs_the_same_dashboard_command_on_localhost(tmp_path, fake_textual_serve):
    runs_dir = tmp_path / "my runs"
    tui_scenarios.write_run(runs_dir / "demo", tui_scenarios.stops_early())
    runner = CliRunner()  # stdout is not a terminal: --serve does not need one
    result = runner.invoke(cli(), ["dashboard", "demo", "--serve", "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli(), ["dashboard", "--serve", "--host", "0.0.0.0", "--port", "8123", "--runs-dir", "r"]
    )
    assert result.exit_code == 0, result.output
    one, browser = fake_textual_serve
    assert (one.host, one.port, one.served) == ("127.0.0.1", 8000, True)
    assert shlex.split(one.command) == [
        *(sys.executable, "-m", "kerasdl", "dashboard", "demo", "--runs-dir", str(runs_dir))
    ]
    assert one.title == "kerasdl dashboard demo"
    assert (browser.host, browser.port) == ("0.0.0.0", 8123)
    assert browser.command.endswith("-m kerasdl dashboard --runs-dir r")


def test_serve_checks_the_run_first(tmp_path, fake_textual_serve):
    for name in ("run-a", "run-b"):
        tui_scenarios.write_run(tmp_path / name, tui_scenarios.stops_early())
    result = CliRunner().invoke(cli(), ["dashboard", "run", "--serve", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "is ambiguous" in result.output
    assert fake_textual_serve == []


def test_the_served_dashboard_needs_no_terminal(monkeypatch):
    monkeypatch.setenv("TEXTUAL_DRIVER", dashboard_cli.WEB_DRIVER)
    assert dashboard_cli.terminal_problem() is None
    monkeypatch.delenv("TEXTUAL_DRIVER")
    assert dashboard_cli.terminal_problem() is not None  # pytest's stdout is captured


# --------------------------------------------------------------------------- in Chromium


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


def stop_group(process: subprocess.Popen) -> None:
    """End ``process`` and everything it started (its own process group)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the dashboards the server started


@contextlib.contextmanager
def serving(run: str, runs_dir: Path, log: Path):
    """``kerasdl dashboard RUN --serve`` on a free port; yields the page's URL."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kerasdl",
                "dashboard",
                run,
                "--serve",
                "--port",
                str(port),
                "--runs-dir",
                str(runs_dir),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_group(process)


async def _screenshot(browser: str, url: str, timeout: float) -> tuple[bytes, str]:
    """Open ``url`` in headless Chromium; once the dashboard has drawn and its screen has
    stopped changing, return a PNG of the page and the page's body classes."""
    import aiohttp  # textual-serve's own dependency

    profile = Path(tempfile.mkdtemp(prefix="kerasdl-chromium-"))
    log = profile / "chromium.log"  # a file, not a pipe: nothing blocks chromium's writes
    with log.open("wb") as err:
        process = subprocess.Popen(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile / 'profile'}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        debug_port = await _devtools_port(process, log)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{debug_port}/json/list") as response:
                targets = await response.json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                return await _drive(ws, url, timeout)
    finally:
        stop_group(process)
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_port(process: subprocess.Popen, log: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(
            r"DevTools listening on ws://[^:/]+:(\d+)/", log.read_text("utf-8", "replace")
        )
        if found:
            return found.group(1)
        assert process.poll() is None, log.read_text("utf-8", "replace")[-2000:]
        await asyncio.sleep(0.1)
    raise AssertionError("chromium printed no DevTools address")


async def _drive(ws, url: str, timeout: float) -> tuple[bytes, str]:
    ids = iter(range(1, 1_000_000))

    async def call(method: str, **params):
        number = next(ids)
        await ws.send_json({"id": number, "method": method, "params": params})
        while True:
            message = await ws.receive_json()
            if message.get("id") == number:
                assert "error" not in message, message
                return message["result"]

    async def body_classes() -> str:
        result = await call("Runtime.evaluate", expression="document.body.className")
        return result["result"].get("value") or ""

    width, height = WINDOW
    await call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    await call("Page.navigate", url=url)
    deadline = time.monotonic() + timeout
    # textual.js adds -first-byte once the dashboard's first output has arrived.
    while "-first-byte" not in await body_classes():
        assert time.monotonic() < deadline, "the dashboard never drew in the page"
        await asyncio.sleep(0.25)
    previous = None
    while True:  # until two screenshots a second apart are the same
        await asyncio.sleep(1.0)
        png = base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"])
        if png == previous or time.monotonic() > deadline:
            return png, await body_classes()
        previous = png


def screenshot(url: str, timeout: float = 90.0) -> tuple[bytes, str]:
    browser = chromium()
    assert browser is not None
    return asyncio.run(_screenshot(browser, url, timeout))


def png_colours(png: bytes) -> tuple[tuple[int, int], dict[bytes, int]]:
    """The size of an 8-bit RGB or RGBA PNG, and how many pixels have each colour (no
    Pillow needed: the IDAT chunks, inflated and unfiltered)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], None
    while position < len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            chunks.append(data)
        position += 12 + length
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour_type, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    previous = bytearray(stride)
    counts: dict[bytes, int] = {}
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                guess = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + guess) & 0xFF
        for x in range(0, stride, bpp):
            colour = bytes(line[x : x + 3])
            counts[colour] = counts.get(colour, 0) + 1
        previous = line
    return (width, height), counts


def make_run(runs_dir: Path) -> str:
    tui_scenarios.write_run(runs_dir / "demo", tui_scenarios.stops_early())
    return "demo"


@pytest.mark.skipif(
    importlib.util.find_spec("textual_serve") is None,
    reason='textual-serve is not installed (pip install ".[serve]")',
)
@pytest.mark.skipif(chromium() is None, reason="no chromium (Debian: apt-get install chromium)")
def test_served_dashboard_draws_its_charts_in_chromium(tmp_path):
    runs_dir = tmp_path / "runs"
    run = make_run(runs_dir)
    with serving(run, runs_dir, tmp_path / "server.log") as url:
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            page = response.read().decode("utf-8")
        assert "textual" in page and "kerasdl dashboard demo" in page
        png, classes = screenshot(url)
    (tmp_path / "dashboard-serve.png").write_bytes(png)
    assert "-first-byte" in classes and "-closed" not in classes, (
        classes,
        (tmp_path / "server.log").read_text(errors="replace")[-2000:],
    )
    size, counts = png_colours(png)
    assert size == WINDOW
    # Not blank, nor the page's splash: the dashboard's text and coloured curves.
    assert len(counts) >= 50, len(counts)
    assert max(counts.values()) < 0.95 * size[0] * size[1]


def main(argv: list[str]) -> int:
    """Write the screenshot of a served dashboard to ``argv[0]`` (docs/images/...)."""
    out = Path(argv[0])
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir = Path(scratch) / "runs"
        run = make_run(runs_dir)
        with serving(run, runs_dir, Path(scratch) / "server.log") as url:
            png, classes = screenshot(url)
    assert "-first-byte" in classes, classes
    out.write_bytes(png)
    print(f"wrote {out} ({len(png)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
