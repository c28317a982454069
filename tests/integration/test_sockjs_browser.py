"""The stock npm sockjs-client in a real browser against eddy's SockJS
server: headless Chromium (Debian's /usr/bin/chromium), driven by
tests/browser/sockjs_transports.mjs with playwright-core.

sockjs-echo serves the client's dist/ directory itself (--static), and its
iframe page loads the client from there (--client-url), so the iframe-based
transports run without the network. Each transport is forced in turn and
echoes a short, a unicode and a large message.

scripts/bootstrap installs Chromium, Node and the npm packages; the test is
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
SCRIPT = BROWSER_DIR / "sockjs_transports.mjs"
CLIENT_DIST = BROWSER_DIR / "node_modules" / "sockjs-client" / "dist"
STEP_TIMEOUT_MS = 30000
RUN_TIMEOUT = 300  # seconds for the whole script, browser start included
TRANSPORTS = 9


def missing():
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (scripts/bootstrap installs Debian's chromium)"
    if shutil.which("node") is None:
        return "node is missing (scripts/bootstrap installs nodejs)"
    for pkg in ["playwright-core", "sockjs-client"]:
        if not (BROWSER_DIR / "node_modules" / pkg / "package.json").exists():
            return f"tests/browser/node_modules/{pkg} is missing (run npm ci there)"
    return None


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_sockjs_client_every_transport(run_example):
    echo = run_example("sockjs-echo", "--listen", LOCAL, "--static",
                       str(CLIENT_DIST), "--client-url", "/static/sockjs.min.js")
    port = echo.port()
    env = dict(os.environ)
    env.pop("NODE_OPTIONS", None)
    r = subprocess.run(
        ["node", str(SCRIPT), "--base", f"http://127.0.0.1:{port}",
         "--chromium", str(CHROMIUM), "--timeout", str(STEP_TIMEOUT_MS)],
        cwd=BROWSER_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env,
    )
    report = f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert r.returncode == 0, report
    assert r.stdout.count("messages echoed intact") == TRANSPORTS, report
