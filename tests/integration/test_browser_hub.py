"""A real browser against the real eddyd: headless Chromium (Debian's
/usr/bin/chromium) driven by tests/browser/hub_pages.mjs with playwright-core.

The pages eddyd serves (the dashboard at /, the live demo at /demo) and its
browser client /eddy.js: two demo tabs move dots and chat, the dashboard's
graphs move while traffic flows, the histogram switches linear/log, graphs
export to SVG and PNG, the services overview lists the services, a client
recovers what was published while the server had dropped its connection,
and eddy.js falls back to SockJS when WebSocket is refused.

scripts/bootstrap installs Chromium, Node and the npm package; the browser
test is skipped (saying why) only when one of them is missing.
"""

import os
import pathlib
import re
import shutil
import subprocess
import urllib.request

import pytest

from conftest import IO_TIMEOUT, REPO
from eddyd_support import eddyd  # noqa: F401 (fixture)

CHROMIUM = pathlib.Path("/usr/bin/chromium")
BROWSER_DIR = REPO / "tests" / "browser"
SCRIPT = BROWSER_DIR / "hub_pages.mjs"
UNIT = BROWSER_DIR / "eddy_js_unit.mjs"
WEB = REPO / "web"
STEP_TIMEOUT_MS = 30000
RUN_TIMEOUT = 300  # seconds for the whole script, browser start included
LOOPBACK = "tcp:0:interface=127.0.0.1"
# The demo's channels: clients publish, presence and join/leave on, and
# history so that a newcomer sees the recent chat and a client can recover.
DEMO_NAMESPACE = "demo history=200 ttl=10m presence=yes join_leave=yes publish=yes"


def missing():
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (scripts/bootstrap installs Debian's chromium)"
    if shutil.which("node") is None:
        return "node is missing (scripts/bootstrap installs nodejs)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").exists():
        return "tests/browser/node_modules is missing (scripts/bootstrap runs npm ci there)"
    return None


def node_env():
    env = dict(os.environ)
    env.pop("NODE_OPTIONS", None)
    return env


@pytest.mark.skipif(shutil.which("node") is None, reason="node is missing (scripts/bootstrap installs nodejs)")
def test_eddy_js_logic_in_node():
    """eddy.js alone, against a scripted fake server: backoff, recovery,
    errors, the SockJS fall-back decision and SockJS framing."""
    r = subprocess.run(
        ["node", str(UNIT)],
        cwd=BROWSER_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=node_env(),
    )
    report = f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert r.returncode == 0, report
    passed = re.search(r"^# pass (\d+)$", r.stdout, re.M)
    assert "# fail 0" in r.stdout and passed and int(passed.group(1)) >= 11, report


def start_hub(eddyd, *extra):
    """eddyd with every service on a loopback port 0; returns (daemon,
    http port)."""
    d = eddyd(
        "--http", LOOPBACK,
        "--publish", LOOPBACK,
        "--locks", LOOPBACK,
        "--cache", LOOPBACK,
        "--namespace", DEMO_NAMESPACE,
        *extra,
    )
    ready = d.ready(4)
    ports = [port for service, _, _, port in ready if service == "http"]
    assert ports, f"no http ready line in {ready}"
    return d, ports[0]


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=IO_TIMEOUT) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def test_pages_are_served_as_written(eddyd):  # noqa: F811
    """The built-in copies are the files in web/, with types a browser
    accepts (a module script must come as JavaScript)."""
    d, port = start_hub(eddyd)
    for path, name, ctype in [
        ("/", "index.html", "text/html"),
        ("/demo", "demo.html", "text/html"),
        ("/eddy.js", "eddy.js", "javascript"),
        ("/dashboard.js", "dashboard.js", "javascript"),
        ("/demo.js", "demo.js", "javascript"),
        ("/dashboard.css", "dashboard.css", "text/css"),
        ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ]:
        status, got_type, body = get(port, path)
        assert status == 200, path
        assert ctype in got_type, f"{path}: Content-Type {got_type!r}"
        assert body == (WEB / name).read_bytes(), f"{path} differs from web/{name} (rebuild eddyd)"
    assert d.stop() == 0


@pytest.mark.skipif(missing() is not None, reason=missing() or "")
def test_chromium_uses_the_hub_pages(eddyd):  # noqa: F811
    d, port = start_hub(eddyd)
    r = subprocess.run(
        [
            "node",
            str(SCRIPT),
            "--base",
            f"http://127.0.0.1:{port}/",
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
        env=node_env(),
    )
    report = f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}\neddyd:\n{d.stderr_text()[-4000:]}"
    assert r.returncode == 0, report
    assert r.stdout.count("ok: ") == 15, report
    assert d.stop() == 0, report
