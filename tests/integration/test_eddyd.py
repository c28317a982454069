"""eddyd, the real daemon: start-up and where it listens, flags and the
configuration file, detaching with a pidfile, signals, exit statuses.

Every service listens on port 0 or a Unix socket in a temporary directory;
fixtures stop every eddyd, foreground or detached, whatever happens.
"""

import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import Lines, connect
from eddyd_support import (
    READY,
    daemons,  # noqa: F401 (fixture)
    eddyd,  # noqa: F401 (fixture)
    pid_alive,
    read_pid,
    run_eddyd,
    sanitizer_logs,  # noqa: F401 (fixture)
    wait_gone,
    wait_until,
)


def lock_request(port_or_path, *requests):
    """Sends lock-protocol requests one at a time; returns the reply lines."""
    s = connect(port_or_path)
    try:
        lines = Lines(s)
        replies = []
        for r in requests:
            s.sendall(r.encode() + b"\r\n")
            replies.append(lines.readline().rstrip("\r"))
        return replies
    finally:
        s.close()


def cache_request(port_or_path, data, until):
    """Sends raw memcached bytes; reads until the reply ends with `until`."""
    s = connect(port_or_path)
    try:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + 10
        while not got.endswith(until):
            assert time.monotonic() < deadline, f"no {until!r} in {got!r}"
            b = s.recv(65536)
            assert b, f"EOF after {got!r}"
            got += b
        return got
    finally:
        s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- Running in the foreground ---------------------------------------------


def test_every_service_reports_its_real_port(eddyd):
    d = eddyd("--locks", "tcp:0", "--cache", "tcp:0")
    ready = d.ready(2)
    services = {s: (e, a, p) for s, e, a, p in ready}
    assert set(services) == {"locks", "cache"}
    for name, (endpoint, address, port) in services.items():
        assert endpoint == "tcp:0"
        assert port > 0
        assert address == f"127.0.0.1:{port}"
        d.wait_for(rf"^eddyd: {name} listening on 127\.0\.0\.1:{port} \(tcp:0\)$", stream="out")
    assert lock_request(services["locks"][2], "ping") == ["OK pong"]
    reply = cache_request(services["cache"][2], b"version\r\n", b"\r\n")
    assert reply.startswith(b"VERSION ")
    d.started()
    assert d.stop() == 0
    d.wait_for(r"\bevent=stopped clean=yes\b")


def test_sigint_stops_gracefully(eddyd):
    d = eddyd("--locks", "tcp:0", "--cache", "off")
    d.ready(1)
    d.started()
    assert d.stop(signal.SIGINT) == 0


def test_several_endpoints_for_one_service(eddyd, sock_dir):
    path = sock_dir / "locks.sock"
    d = eddyd("--locks", "tcp:0", "--locks", f"unix:{path}", "--cache", "off")
    ready = d.ready(2)
    assert [(s, e) for s, e, _, _ in ready] == [("locks", "tcp:0"), ("locks", f"unix:{path}")]
    tcp_port = ready[0][3]
    assert ready[1][2] == str(path) and ready[1][3] == 0
    assert lock_request(tcp_port, "ping") == ["OK pong"]
    assert lock_request(str(path), "ping") == ["OK pong"]
    assert d.stop() == 0
    assert not path.exists(), "the Unix socket was left behind"


def test_unix_endpoints(eddyd, sock_dir):
    lpath, cpath = sock_dir / "l.sock", sock_dir / "c.sock"
    d = eddyd("--locks", f"unix:{lpath}", "--cache", f"unix:{cpath}:mode=0600")
    ready = {s: (a, p) for s, _, a, p in d.ready(2)}
    assert ready == {"locks": (str(lpath), 0), "cache": (str(cpath), 0)}
    d.wait_for(rf"^eddyd: cache listening on {re.escape(str(cpath))} ", stream="out")
    assert os.stat(cpath).st_mode & 0o777 == 0o600
    assert lock_request(str(lpath), "ping") == ["OK pong"]
    got = cache_request(str(cpath), b"set k 5 0 2\r\nhi\r\nget k\r\n", b"END\r\n")
    assert got == b"STORED\r\nVALUE k 5 2\r\nhi\r\nEND\r\n"
    assert d.stop() == 0
    assert not lpath.exists() and not cpath.exists()


def test_services_switched_off(eddyd):
    d = eddyd("--locks", "off", "--cache", "tcp:0")
    (service, _, _, port), = d.ready(1)
    assert service == "cache"
    d.started()
    assert "service=locks" not in d.stderr_text()
    assert d.stop() == 0


def test_everything_off_still_runs_until_stopped(eddyd):
    d = eddyd("--locks", "off", "--cache", "off")
    d.started()
    time.sleep(0.3)
    assert d.proc.poll() is None, "eddyd exited with nothing to serve"
    assert READY.search(d.stderr_text()) is None
    assert d.stop() == 0


def test_limits_reach_the_services(eddyd):
    d = eddyd("--locks", "tcp:0", "--cache", "tcp:0", "--cache-memory", "3M",
              "--lock-admin-token", "t0ken")
    ports = {s: p for s, _, _, p in d.ready(2)}
    stats = cache_request(ports["cache"], b"stats\r\n", b"END\r\n")
    assert b"STAT limit_maxbytes 3145728\r\n" in stats
    replies = lock_request(ports["locks"], "reset", "reset wrong", "reset t0ken")
    assert replies[0].startswith("ERR denied")
    assert replies[1].startswith("ERR denied")
    assert replies[2] == "OK 0"


def test_sigusr1_logs_the_counters(eddyd):
    d = eddyd("--locks", "tcp:0", "--cache", "tcp:0")
    ports = {s: p for s, _, _, p in d.ready(2)}
    d.started()
    acquired, released = lock_request(ports["locks"], "acquire a", "release a")
    assert re.fullmatch(r"OK \d+", acquired) and released == "OK 0"
    d.send_signal(signal.SIGUSR1)
    m = d.wait_for(r"\bevent=stats\.locks\b.*\bgrants_total=(\d+)")
    assert int(m.group(1)) >= 1
    d.wait_for(r"\bevent=stats\.cache\b.*\bcurr_connections=\d+")


def test_periodic_stats_at_debug_level(eddyd):
    d = eddyd("--locks", "tcp:0", "--cache", "off", "--log-level", "debug",
              "--stats-interval", "1")
    d.ready(1)
    d.wait_for(r"level=debug event=stats\.locks\b", timeout=10)


def test_http_is_served_where_asked(eddyd):
    port = free_port()
    d = eddyd("--http", f"tcp:{port}", "--publish", "off", "--locks", "off", "--cache", "off")
    (service, endpoint, address, got), = d.ready(1)
    assert (service, endpoint, address, got) == ("http", f"tcp:{port}", f"127.0.0.1:{port}", port)
    d.started()
    assert "http.not_served" not in d.stderr_text()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    finally:
        s.close()
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]
    assert d.stop() == 0


# ---- Start-up errors --------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "eddyd: unknown option '--bogus' (see eddyd --help)"),
        (["serve"], "eddyd: unexpected argument 'serve' (eddyd takes no operands)"),
        (["--locks"], "eddyd: --locks needs a value"),
        (["--locks", "tcp:99999"],
         "eddyd: --locks: bad endpoint 'tcp:99999': expected a port number (0-65535) (at byte 4)"),
        (["--cache-memory", "lots"],
         "eddyd: --cache-memory: expected a size such as 64M (K, M, G), got 'lots'"),
        (["--log-level", "loud"],
         "eddyd: --log-level: expected debug, info, warn, error or off, got 'loud'"),
        (["--cache-memory", "1M", "--cache-max-item", "2M"],
         "eddyd: cache-max-item (2M) is larger than cache-memory (1M)"),
        (["--user", "no-such-user-eddy"], "eddyd: user: no such user 'no-such-user-eddy'"),
        (["--config", "/nonexistent/eddyd.conf"],
         "eddyd: cannot read /nonexistent/eddyd.conf: No such file or directory"),
    ],
)
def test_bad_flags_exit_2(args, message):
    r = run_eddyd(args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines()[0] == message
    assert r.stdout == ""


def test_port_in_use_exits_1_naming_the_endpoint():
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = run_eddyd(["--locks", "off", "--cache", f"tcp:{port}"])
    finally:
        busy.close()
    assert r.returncode == 1, r.stderr
    assert f"eddyd: cache: cannot listen on tcp:{port}: address already in use" in r.stderr


def test_a_later_service_failing_closes_the_earlier_ones(sock_dir):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    lpath = sock_dir / "l.sock"
    try:
        r = run_eddyd(["--locks", f"unix:{lpath}", "--cache", f"tcp:{port}"])
    finally:
        busy.close()
    assert r.returncode == 1
    assert f"cannot listen on tcp:{port}" in r.stderr
    assert not lpath.exists(), "the locks socket of a failed start was left behind"


# ---- Help, version, check-config, configuration file -----------------------


def test_help_and_version():
    r = run_eddyd(["--help"])
    assert r.returncode == 0
    for flag in ("--locks", "--cache", "--http", "--cache-memory", "--cache-max-item",
                 "--lock-admin-token", "--log-level", "--logfile", "--syslog",
                 "--daemon", "--pidfile", "--user", "--group", "--config",
                 "--check-config", "--version", "Examples:", "Exit status"):
        assert flag in r.stdout, flag
    r = run_eddyd(["--version"])
    assert r.returncode == 0
    assert re.fullmatch(r"eddyd \d+\.\d+\.\d+ \(libeddy \d+\.\d+\.\d+\)\n", r.stdout)


def test_check_config_prints_the_effective_configuration(tmp_path):
    conf = tmp_path / "eddyd.conf"
    conf.write_text("# test\nlocks = tcp:0\ncache = off\ncache-memory = 8M\n"
                    "lock-admin-token = hunter2\n")
    r = run_eddyd(["--config", conf, "--check-config", "--cache", "tcp:0",
                   "--log-level", "warn"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "locks = tcp:0" in lines
    assert "cache = tcp:0" in lines  # the flag overrides the file's off
    assert "cache-memory = 8M" in lines
    assert "log-level = warn" in lines
    assert "http = tcp:7700" in lines
    assert "hunter2" not in r.stdout
    # What it prints is itself a valid configuration.
    again = tmp_path / "again.conf"
    again.write_text(r.stdout)
    r2 = run_eddyd(["--config", again, "--check-config"])
    assert r2.returncode == 0, r2.stderr
    # Only the secret does not survive the round trip: it is never printed.
    assert r2.stdout == r.stdout.replace(
        "# lock-admin-token = (set, not shown)", "# lock-admin-token =")


def test_bad_configuration_file_exits_2_with_the_line(tmp_path):
    conf = tmp_path / "eddyd.conf"
    conf.write_text("locks = tcp:0\n\ncache-memory = huge\n")
    r = run_eddyd(["--config", conf, "--check-config"])
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"eddyd: {conf}:3: cache-memory: expected a size such as 64M (K, M, G), got 'huge'"
    )


def test_configuration_file_is_used(eddyd, tmp_path, sock_dir):
    path = sock_dir / "locks.sock"
    conf = tmp_path / "eddyd.conf"
    conf.write_text(f"locks = unix:{path}\nlocks = tcp:0\ncache = off\n")
    d = eddyd("--config", conf)
    ready = d.ready(2)
    assert [e for _, e, _, _ in ready] == [f"unix:{path}", "tcp:0"]
    d.started()
    assert "service=cache" not in d.stderr_text()
    assert d.stop() == 0


# ---- Logging ----------------------------------------------------------------


def test_logfile_is_reopened_on_sighup(eddyd, tmp_path):
    log = tmp_path / "eddyd.log"
    d = eddyd("--locks", "tcp:0", "--cache", "off", "--logfile", log)
    d.wait_for(r"^eddyd: locks listening on", stream="out")
    wait_until(lambda: "event=started" in log.read_text(), what="started in the log")
    assert "event=ready service=locks" in log.read_text()
    rotated = tmp_path / "eddyd.log.1"
    log.rename(rotated)
    d.send_signal(signal.SIGHUP)
    wait_until(lambda: log.exists() and "event=log.reopened" in log.read_text(),
               what="a new log file")
    assert d.stop() == 0
    assert "event=stopped clean=yes" in log.read_text()
    assert "event=stopped" not in rotated.read_text()
    assert "event=log.reopened" not in rotated.read_text()


# ---- Detaching --------------------------------------------------------------


def start_daemon(tmp_path, sanitizer_dir, *extra):
    pidfile = tmp_path / "eddyd.pid"
    log = tmp_path / "eddyd.log"
    r = run_eddyd(["--daemon", "--pidfile", pidfile, "--logfile", log,
                   "--locks", "tcp:0", "--cache", "tcp:0", *extra],
                  sanitizer_dir=sanitizer_dir)
    return r, pidfile, log


def test_daemon_returns_when_ready_and_stops_on_sigterm(tmp_path, sanitizer_logs, daemons):
    r, pidfile, log = start_daemon(tmp_path, sanitizer_logs)
    assert r.returncode == 0, r.stderr
    pid = read_pid(pidfile)
    daemons.append(pid)
    assert pid_alive(pid)
    # The caller learnt where each service listens before returning.
    ports = dict(re.findall(r"^eddyd: (\w+) listening on 127\.0\.0\.1:(\d+) ", r.stdout, re.M))
    assert set(ports) == {"locks", "cache"}
    assert lock_request(int(ports["locks"]), "ping") == ["OK pong"]
    # Detached: a new session, not the caller's child, working from /.
    assert os.getsid(pid) != os.getsid(0)
    assert os.getsid(pid) != pid, "the daemon is a session leader"
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/2") == "/dev/null"
    os.kill(pid, signal.SIGTERM)
    assert wait_gone(pid), "the daemon did not stop on SIGTERM"
    assert not pidfile.exists(), "the pidfile was left behind"
    assert "event=stopped clean=yes" in log.read_text()


def test_second_daemon_with_the_same_pidfile_is_refused(tmp_path, sanitizer_logs, daemons):
    r, pidfile, _ = start_daemon(tmp_path, sanitizer_logs)
    assert r.returncode == 0, r.stderr
    pid = read_pid(pidfile)
    daemons.append(pid)
    r2, _, _ = start_daemon(tmp_path, sanitizer_logs)
    assert r2.returncode == 1
    assert f"eddyd is already running (pid {pid} holds the pidfile {pidfile})" in r2.stderr
    assert read_pid(pidfile) == pid
    assert pid_alive(pid)
    # The refused start must not remove the running daemon's pidfile.
    assert pidfile.exists()


def test_foreground_start_is_refused_too(tmp_path, sanitizer_logs, daemons):
    r, pidfile, _ = start_daemon(tmp_path, sanitizer_logs)
    assert r.returncode == 0, r.stderr
    daemons.append(read_pid(pidfile))
    r2 = run_eddyd(["--pidfile", pidfile, "--locks", "off", "--cache", "off"])
    assert r2.returncode == 1
    assert "eddyd is already running" in r2.stderr


def test_stale_pidfile_is_replaced(tmp_path, sanitizer_logs, daemons):
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=10)
    pidfile = tmp_path / "eddyd.pid"
    pidfile.write_text(f"{dead.pid}\n")
    r, _, log = start_daemon(tmp_path, sanitizer_logs)
    assert r.returncode == 0, r.stderr
    pid = read_pid(pidfile)
    daemons.append(pid)
    assert pid != dead.pid
    assert f"event=pidfile.stale pid={dead.pid}" in log.read_text()


def test_pidfile_naming_a_live_process_that_is_not_eddyd_is_stale(tmp_path, sanitizer_logs, daemons):
    pidfile = tmp_path / "eddyd.pid"
    pidfile.write_text(f"{os.getpid()}\n")  # this pytest: alive, not eddyd
    r, _, _ = start_daemon(tmp_path, sanitizer_logs)
    assert r.returncode == 0, r.stderr
    daemons.append(read_pid(pidfile))
    assert read_pid(pidfile) != os.getpid()


def test_daemon_start_up_error_reaches_the_caller(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    pidfile = tmp_path / "eddyd.pid"
    try:
        r = run_eddyd(["--daemon", "--pidfile", pidfile, "--logfile", tmp_path / "log",
                       "--locks", f"tcp:{port}", "--cache", "off"])
    finally:
        busy.close()
    assert r.returncode == 1
    assert f"eddyd: locks: cannot listen on tcp:{port}: address already in use" in r.stderr
    assert not pidfile.exists(), "a failed start left its pidfile"


def test_daemon_refuses_relative_unix_paths():
    r = run_eddyd(["--daemon", "--locks", "unix:rel.sock", "--cache", "off"])
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "eddyd: locks: with daemon, the Unix socket path 'rel.sock' must be absolute"
    )


def test_relative_pidfile_and_logfile_survive_the_chdir(tmp_path, sanitizer_logs, daemons):
    r = run_eddyd(["-d", "--pidfile", "rel.pid", "--logfile", "rel.log",
                   "--locks", "off", "--cache", "off"], cwd=tmp_path,
                  sanitizer_dir=sanitizer_logs)
    assert r.returncode == 0, r.stderr
    pid = read_pid(tmp_path / "rel.pid")
    daemons.append(pid)
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: "event=log.reopened" in (tmp_path / "rel.log").read_text(),
               what="the reopened log")
    os.kill(pid, signal.SIGTERM)
    assert wait_gone(pid)
    assert not (tmp_path / "rel.pid").exists()


# ---- Stopping with clients, syslog, privileges ------------------------------


def test_stop_closes_connected_clients(eddyd):
    d = eddyd("--locks", "tcp:0", "--cache", "tcp:0")
    ports = {s: p for s, _, _, p in d.ready(2)}
    holder = connect(ports["locks"])
    holder.sendall(b"acquire held\r\n")
    assert Lines(holder).readline().startswith("OK ")
    idle = connect(ports["cache"])
    t0 = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - t0 < 10
    for s in (holder, idle):
        s.settimeout(10)
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            data = b""
        assert data == b"", f"expected the connection closed, got {data!r}"
        s.close()


def test_syslog_keeps_stderr_quiet(eddyd):
    d = eddyd("--syslog", "--locks", "tcp:0", "--cache", "off")
    d.wait_for(r"^eddyd: locks listening on 127\.0\.0\.1:\d+ \(tcp:0\)$", stream="out")
    time.sleep(0.2)
    assert "event=" not in d.stderr_text()
    assert d.stop() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_and_group_are_dropped_after_binding(eddyd, tmp_path):
    import grp
    import pwd

    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    log = tmp_path / "eddyd.log"
    os.chmod(tmp_path, 0o755)
    d = eddyd("--user", "nobody", "--group", group, "--logfile", log,
              "--locks", "tcp:0", "--cache", "off")
    d.wait_for(r"^eddyd: locks listening on 127\.0\.0\.1:(\d+)", stream="out")
    wait_until(lambda: "event=started" in log.read_text(), what="start")
    status = pathlib.Path(f"/proc/{d.proc.pid}/status").read_text()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
    assert set(uids) == {str(nobody.pw_uid)}
    assert set(gids) == {str(nobody.pw_gid)}
    assert "0" not in groups
    assert "running_as_root" not in log.read_text()
    # The log still belongs to eddyd: it can reopen it after a rotation.
    assert os.stat(log).st_uid == nobody.pw_uid
    assert d.stop() == 0


def test_unusable_pidfile_or_logfile_exits_1(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    r = run_eddyd(["--pidfile", missing / "eddyd.pid", "--locks", "off", "--cache", "off"])
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (
        f"eddyd: pidfile {missing}/eddyd.pid: cannot open: No such file or directory"
    )
    r = run_eddyd(["-d", "--logfile", missing / "eddyd.log", "--locks", "off", "--cache", "off"])
    assert r.returncode == 1
    assert r.stderr.splitlines()[0].startswith(
        f"eddyd: cannot open the log file {missing}/eddyd.log: "
    )


def ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_tcp6_endpoint(eddyd):
    d = eddyd("--locks", "off", "--cache", "tcp6:0")
    (_, endpoint, address, port), = d.ready(1)
    assert endpoint == "tcp6:0" and port > 0
    assert "::1" in address
    s = socket.create_connection(("::1", port), timeout=10)
    try:
        s.sendall(b"version\r\n")
        assert s.recv(100).startswith(b"VERSION ")
    finally:
        s.close()


def test_unlocked_pidfile_naming_a_live_eddyd_is_refused(eddyd, tmp_path):
    # As on a filesystem whose locks do not work: the file is not locked, but
    # the pid in it is a running eddyd.
    other = eddyd("--locks", "off", "--cache", "off")
    other.started()
    pidfile = tmp_path / "eddyd.pid"
    pidfile.write_text(f"{other.proc.pid}\n")
    r = run_eddyd(["--pidfile", pidfile, "--locks", "off", "--cache", "off"])
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (
        f"eddyd: eddyd is already running (pid {other.proc.pid} in the pidfile "
        f"{pidfile} is alive)"
    )
    assert read_pid(pidfile) == other.proc.pid
