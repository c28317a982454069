"""A real browser against the WebSocket examples: headless Chromium (Debian's
/usr/bin/chromium), driven by tests/browser/ws_chat.mjs with playwright-core.

Two tabs of ws-chat talk through the server, and page JavaScript echoes a
4 MiB binary message through ws-echo. Chromium offers permessage-deflate,
so this checks compression interop with a browser too.

scripts/bootstrap installs Chromium, Node and the npm package; the test is
skipped (saying why) only when one of them is missing.
"""

import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import REPO
from ws_support import LOCAL

CHROMIUM = pathlib.Path("/usr/bin/chromium")
BROWSER_DIR = REPO / "tests" / "browser"
SCRIPT = BROWSER_DIR / "ws_chat.mjs"
STEP_TIMEOUT_MS = 60000
RUN_TIMEOUT = 240  # seconds for the whole script, browser start included


def missing():
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (scripts/bootstrap installs Debian's chromium)"
    if shutil.which("node") is None:
        return "node is missing (scripts/bootstrap installs nodejs)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").exists():
        return "tests/browser/node_modules is missing (scripts/bootstrap runs npm ci there)"
    return None


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_chromium_chats_and_echoes(run_example):
    chat = run_example("ws-chat", "--port", LOCAL)
    echo = run_example("ws-echo", "--port", LOCAL)
    chat_port, echo_port = chat.port(), echo.port()
    env = dict(os.environ)
    env.pop("NODE_OPTIONS", None)
    r = subprocess.run(
        [
            "node",
            str(SCRIPT),
            "--chat",
            f"http://127.0.0.1:{chat_port}/",
            "--echo",
            f"ws://127.0.0.1:{echo_port}/browser",
            "--chromium",
            str(CHROMIUM),
            "--timeout",
            str(STEP_TIMEOUT_MS),
        ],
        cwd=BROWSER_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env,
    )
    report = f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert r.returncode == 0, report
    assert r.stdout.count("ok: ") == 6, report
