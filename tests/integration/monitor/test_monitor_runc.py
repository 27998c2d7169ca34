"""The monitor driving runc as the unprivileged user: logs, exit file, cleanup, attach, errors, kill -9."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from podpy.monitor import attach, exitfile, liveness, logread
from tests.integration.monitor.conftest import Env, wait_for

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d"


def _exit(cfg: dict) -> dict:  # type: ignore[type-arg]
    return wait_for(lambda: exitfile.read_exit_file(os.path.join(cfg["state_dir"], "exit")), what="exit file")


def test_echo_exit_3_log_exit_file_cleanup(env: Env, tmp_path: Path) -> None:
    b = env.bundle(["sh", "-c", "echo hello; printf 'two\\nthree'; echo oops >&2; exit 3"])
    marker = tmp_path / "cleaned"
    cfg = env.config(b, "echo3", cleanup=["sh", "-c", f"echo cleanup-ran > {marker}"])
    t0 = time.time_ns()
    h = env.spawn(cfg)
    assert h["pid"] > 0 and h["monitor_pid"] > 0
    ex = _exit(cfg)
    assert ex["exit_code"] == 3 and ex["signal"] is None
    assert t0 <= ex["exited_at_ns"] <= time.time_ns()
    wait_for(lambda: not liveness.is_alive(h["monitor_pid"], h["monitor_start"]), what="monitor exit")
    assert marker.read_text() == "cleanup-ran\n"
    log = (Path(cfg["state_dir"]) / "ctr.log").read_bytes().decode()
    lines = log.splitlines()
    assert all(re.fullmatch(TS + r" (stdout|stderr) [FP] .*", ln) for ln in lines), log
    body = [ln.split(" ", 1)[1] for ln in lines]
    out = [x for x in body if x.startswith("stdout")]
    assert out == ["stdout F hello", "stdout F two", "stdout P three"]
    assert [x for x in body if x.startswith("stderr")] == ["stderr F oops"]
    assert log.endswith("\n")
    # the attach socket, ctl fifo and pid file of the monitor are gone; the exit file stays
    assert not (Path(cfg["state_dir"]) / "attach").exists()
    assert not (Path(cfg["state_dir"]) / "ctl").exists()


def test_long_running_container_outlives_spawner(env: Env) -> None:
    b = env.bundle(["sleep", "1000"])
    cfg = env.config(b, "longrun")
    h = env.spawn(cfg)  # the spawner process has exited here
    mpid = h["monitor_pid"]
    assert liveness.is_alive(mpid, h["monitor_start"])
    assert liveness.is_alive(h["pid"])
    # its own session (double fork: not even its leader), no controlling terminal: no shell's SIGHUP
    assert os.getsid(mpid) not in (os.getsid(0), mpid)
    assert Path(f"/proc/{mpid}/stat").read_text().rsplit(")", 1)[1].split()[4] == "0"  # tty_nr
    assert liveness.read_pid_file(os.path.join(cfg["state_dir"], "monitor.pid")) == mpid
    ppid = int(Path(f"/proc/{h['pid']}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid == mpid  # the monitor is the subreaper of the container's init
    time.sleep(0.5)
    assert exitfile.read_exit_file(os.path.join(cfg["state_dir"], "exit")) is None
    r = env.runc("kill", "longrun", "KILL")
    assert r.returncode == 0, r.stderr
    ex = _exit(cfg)
    assert ex["exit_code"] == 137 and ex["signal"] == 9
    wait_for(lambda: not liveness.is_alive(mpid, h["monitor_start"]), what="monitor exit")


def test_attach_receives_output_and_sends_input(env: Env) -> None:
    script = 'echo ready; while read l; do echo "got $l"; echo "err $l" >&2; done; echo bye; exit 7'
    b = env.bundle(["sh", "-c", script])
    cfg = env.config(b, "attach1", stdin=True)
    h = env.spawn(cfg)
    apath = os.path.join(cfg["state_dir"], "attach")
    assert Path(apath).is_socket()
    with attach.AttachClient(apath, timeout=20) as c:
        c.send(b"one\n")
        got: dict[int, bytes] = {attach.STDOUT: b"", attach.STDERR: b""}
        wait_for(lambda: _recv_into(c, got) and b"got one\n" in got[attach.STDOUT], what="echo of input")
        c.send(b"two\n")
        c.close_stdin()  # the container sees EOF on stdin
        rest = c.read_all()  # until the monitor closes the socket at the end
    out = got[attach.STDOUT] + rest[attach.STDOUT]
    err = got[attach.STDERR] + rest[attach.STDERR]
    assert b"got two\nbye\n" in out
    assert err.endswith(b"err one\nerr two\n")
    assert _exit(cfg)["exit_code"] == 7
    msgs = logread.read_messages(os.path.join(cfg["state_dir"], "ctr.log"))
    assert [(s, t) for _, s, t in msgs if s == "stdout"][-3:] == [
        ("stdout", b"got one\n"), ("stdout", b"got two\n"), ("stdout", b"bye\n")]  # fmt: skip
    assert h["pid"] > 0


def _recv_into(c: attach.AttachClient, got: dict[int, bytes]) -> bool:
    m = c.recv()
    if m is not None:
        got[m[0]] = got.get(m[0], b"") + m[1]
    return True


def test_attach_packets_use_conmon_framing(env: Env) -> None:
    b = env.bundle(["sh", "-c", "read x; head -c 20000 /dev/zero | tr '\\0' a; echo; exit 0"])
    cfg = env.config(b, "frames", stdin=True)
    env.spawn(cfg)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(20)
    s.connect(os.path.join(cfg["state_dir"], "attach"))
    s.send(b"go\n")
    packets = []
    while pkt := s.recv(65536):
        packets.append(pkt)
    s.close()
    assert packets and all(p[0] == attach.STDOUT for p in packets)
    assert max(len(p) for p in packets) <= 8193
    assert b"".join(p[1:] for p in packets) == b"a" * 20000 + b"\n"


def test_kill_9_of_the_monitor_is_detectable(env: Env) -> None:
    b = env.bundle(["sleep", "1000"])
    cfg = env.config(b, "kill9")
    h = env.spawn(cfg)
    mpid, start = h["monitor_pid"], h["monitor_start"]
    assert start > 0 and liveness.is_alive(mpid, start)
    os.kill(mpid, signal.SIGKILL)
    wait_for(lambda: not liveness.is_alive(mpid, start), what="monitor gone")
    assert liveness.proc_start_time(mpid) is None or liveness.proc_start_time(mpid) != start
    # no exit file was written: the engine must mark the container itself
    assert exitfile.read_exit_file(os.path.join(cfg["state_dir"], "exit")) is None
    assert not liveness.is_alive(mpid, start + 1)


def test_runtime_error_comes_back_as_one_line(env: Env) -> None:
    b = env.bundle(["/no/such/binary"])
    r = env.spawn(env.config(b, "badexec"))
    assert "error" in r, r
    assert "\n" not in r["error"]
    assert "/no/such/binary" in r["error"] and "no such file or directory" in r["error"].lower()
    assert r["exit_code"] == 127  # as podman: the command was not found
    assert r["error"].startswith("runc create failed: unable to start container process: exec:")
    b2 = env.bundle(["/etc/passwd"])  # not executable
    r = env.spawn(env.config(b2, "noexec"))
    assert "permission denied" in r["error"] and r["exit_code"] == 126
    # a bundle with no config.json at all
    empty = env.tmp / "emptybundle"
    empty.mkdir()
    r = env.spawn(env.config(empty, "nobundle"))
    assert "error" in r and "\n" not in r["error"]
    assert "config.json" in r["error"] and r["exit_code"] == 125
    # a runtime that does not exist
    r = env.spawn(env.config(b, "noruntime", runtime=["/no/runc"]))
    assert "error" in r and "/no/runc" in r["error"]


def test_terminal_via_console_socket(env: Env) -> None:
    b = env.bundle(["sh", "-c", "tty; read x; stty size; echo got-$x; exit 4"], terminal=True)
    cfg = env.config(b, "tty1", terminal=True, stdin=True)
    env.spawn(cfg)
    with attach.AttachClient(os.path.join(cfg["state_dir"], "attach"), timeout=20) as c:
        attach.send_ctl(os.path.join(cfg["state_dir"], "ctl"), attach.CTL_RESIZE, 33, 101)
        time.sleep(0.2)
        c.send(b"abc\n")
        out = c.read_all()[attach.STDOUT]
    assert _exit(cfg)["exit_code"] == 4
    assert b"got-abc\r\n" in out
    assert b"33 101\r\n" in out  # the ctl resize reached the PTY
    log = (Path(cfg["state_dir"]) / "ctr.log").read_bytes()
    assert b" stdout F got-abc\r\n" in log
    assert b" stdout F /dev/pts/0\r\n" in log


def test_log_driver_none_and_rotation(env: Env) -> None:
    b = env.bundle(["sh", "-c", "echo x; exit 0"])
    cfg = env.config(b, "nolog", log_driver="none")
    env.spawn(cfg)
    assert _exit(cfg)["exit_code"] == 0
    assert not (Path(cfg["state_dir"]) / "ctr.log").exists()

    b = env.bundle(["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"])
    cfg = env.config(b, "rotate", log_max_size=2000)
    env.spawn(cfg)
    _exit(cfg)
    log = Path(cfg["state_dir"]) / "ctr.log"
    assert 0 < log.stat().st_size <= 2000
    assert log.read_text().splitlines()[-1].endswith(" stdout F line-299")


def test_passthrough_gives_the_container_the_callers_stdio(env: Env) -> None:
    b = env.bundle(["sh", "-c", "echo through; exit 0"])
    cfg = env.config(b, "pass", log_driver="passthrough")
    import json
    import sys

    from tests.integration.monitor.conftest import SPAWNER, TREE, UNSHARE

    r = subprocess.run([*UNSHARE, sys.executable, "-c", SPAWNER, json.dumps(cfg)], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(TREE)))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "through\n" in r.stdout
    assert _exit(cfg)["exit_code"] == 0
    assert not (Path(cfg["state_dir"]) / "ctr.log").exists()


def test_sdnotify_ready_and_mainpid(env: Env, tmp_path: Path) -> None:
    sock_path = f"/tmp/pm-notify-{os.getpid()}.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(sock_path)
        s.settimeout(20)
        b = env.bundle(["sh", "-c", "sleep 1; exit 0"])
        cfg = env.config(b, "notify", sdnotify=True, notify_socket=sock_path)
        h = env.spawn(cfg)
        msg = s.recv(4096).decode()
    finally:
        s.close()
        os.unlink(sock_path)
    assert set(msg.split("\n")) == {"READY=1", f"MAINPID={h['monitor_pid']}"}  # as conmon (--sdnotify=conmon)


def test_monitor_rss_is_small(env: Env) -> None:
    b = env.bundle(["sleep", "1000"])
    cfg = env.config(b, "rss")
    h = env.spawn(cfg)
    rss_kb = int(subprocess.run(["ps", "-o", "rss=", "-p", str(h["monitor_pid"])], capture_output=True,
                                text=True, check=True).stdout)  # fmt: skip
    print(f"monitor RSS: {rss_kb} KiB")
    assert rss_kb <= 12 * 1024
    env.runc("kill", "rss", "KILL")
    _exit(cfg)


def test_spawner_killed_before_the_report_leaves_the_container_running(env: Env) -> None:
    """kill -9 of the CLI during `run -d`: the monitor carries on and records the exit."""
    import json
    import sys

    from tests.integration.monitor.conftest import SPAWNER, TREE, UNSHARE

    b = env.bundle(["sh", "-c", "sleep 2; echo late; exit 9"])
    slow_runc = ["sh", "-c", 'sleep 1; exec runc "$@"', "runc"]  # a runtime that takes its time
    cfg = env.config(b, "cli-killed", runtime=slow_runc)
    p = subprocess.Popen([*UNSHARE, sys.executable, "-c", SPAWNER, json.dumps(cfg)], stdout=subprocess.PIPE,
                         env=dict(os.environ, PYTHONPATH=str(TREE)))  # fmt: skip
    mpid_file = os.path.join(cfg["state_dir"], "monitor.pid")
    mpid = wait_for(lambda: liveness.read_pid_file(mpid_file), what="monitor pid file")
    p.kill()
    p.wait()
    assert liveness.is_alive(mpid)
    ex = wait_for(lambda: exitfile.read_exit_file(os.path.join(cfg["state_dir"], "exit")), timeout=30)
    assert ex["exit_code"] == 9
    assert logread.read_messages(os.path.join(cfg["state_dir"], "ctr.log"))[-1][1:] == ("stdout", b"late\n")
    assert "cannot report to the spawner" in Path(cfg["state_dir"], "monitor.log").read_text()


def test_podpys_own_runtime_through_the_same_cli(env: Env) -> None:
    """Any OCI-runtime-CLI runtime works: here `python -m podpy.runtime` instead of runc."""
    import sys

    b = env.bundle(["sh", "-c", "echo from-podpy-runtime; exit 6"])
    spec_path = b / "config.json"
    import json

    spec = json.loads(spec_path.read_text())
    spec["process"]["capabilities"].pop("ambient", None)  # runc spec lists ambient caps not in inheritable
    spec_path.write_text(json.dumps(spec))
    cfg = env.config(b, "own", runtime=[sys.executable, "-m", "podpy.runtime"])
    h = env.spawn(cfg)
    assert h.get("pid", 0) > 0, h
    assert _exit(cfg)["exit_code"] == 6
    msgs = logread.read_messages(os.path.join(cfg["state_dir"], "ctr.log"))
    assert [(s, t) for _, s, t in msgs] == [("stdout", b"from-podpy-runtime\n")]


def test_inside_podpys_own_user_namespace(env: Env, tmp_path: Path) -> None:
    """The way the engine will do it: spawn_monitor inside podpy's namespace (pause process)."""
    import json
    import sys

    from podpy.rootless.userns import stop_pause_process
    from podpy.util.paths import Paths
    from tests.integration.monitor.conftest import SPAWNER, TREE

    paths = Paths(root=tmp_path / "root", runroot=Path(f"/tmp/pm-{os.getpid()}-rr"))
    b = env.bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; exit 2"])
    cfg = env.config(b, "inns")
    argv = [sys.executable, "-m", "podpy", "--root", str(paths.root), "--runroot", str(paths.runroot),
            "unshare", sys.executable, "-c", SPAWNER, json.dumps(cfg)]  # fmt: skip
    try:
        r = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(TREE))
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout.strip().splitlines()[-1])["pid"] > 0
        assert _exit(cfg)["exit_code"] == 2
        msgs = [t for _, s, t in logread.read_messages(os.path.join(cfg["state_dir"], "ctr.log"))]
        assert msgs[0] == b"0\n"
        uid_map = b"".join(msgs[1:]).split()
        assert uid_map[:3] == [b"0", str(os.getuid()).encode(), b"1"]  # root in the container is the user
    finally:
        stop_pause_process(paths)
