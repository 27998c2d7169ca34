"""Pure pieces of the monitor: k8s-file lines, rotation, exit file, sync pipe, attach framing, notify, liveness."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podpy.monitor import attach, exitfile, liveness, logfmt, logread, notify, syncpipe

# 2024-03-25T13:20:42.999999999+01:00 in ns
T_WINTER = 1711369242 * 1_000_000_000 + 999_999_999


@pytest.fixture
def tz() -> Iterator[callable]:  # type: ignore[valid-type]
    old = os.environ.get("TZ")

    def set_tz(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield set_tz
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_timestamp_local_time_offset_nanoseconds(tz) -> None:  # type: ignore[no-untyped-def]
    tz("Europe/Berlin")
    assert logfmt.k8s_timestamp(T_WINTER) == "2024-03-25T13:20:42.999999999+01:00"
    tz("UTC")
    assert logfmt.k8s_timestamp(T_WINTER) == "2024-03-25T12:20:42.999999999+00:00"
    tz("America/St_Johns")  # -02:30 in summer: minutes in the offset
    assert logfmt.k8s_timestamp(T_WINTER) == "2024-03-25T09:50:42.999999999-02:30"
    tz("UTC")
    assert logfmt.k8s_timestamp(1_000_000_000 * 1700000000 + 5) == "2023-11-14T22:13:20.000000005+00:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d", logfmt.k8s_timestamp())


def test_lines_full_partial_and_empty(tz) -> None:  # type: ignore[no-untyped-def]
    tz("Europe/Berlin")
    ts = "2024-03-25T13:20:42.999999999+01:00"
    assert logfmt.format_lines(b"stdout", b"text\n", T_WINTER) == [f"{ts} stdout F text\n".encode()]
    assert logfmt.format_lines(b"stderr", b"a\n\nb", T_WINTER) == [
        f"{ts} stderr F a\n".encode(),
        f"{ts} stderr F \n".encode(),
        f"{ts} stderr P b\n".encode(),
    ]
    assert logfmt.format_lines(b"stdout", b"", T_WINTER) == []
    assert logfmt.format_lines(b"stdout", b"x \r\n", T_WINTER) == [f"{ts} stdout F x \r\n".encode()]


def test_writer_appends_and_messages_join_partials(tmp_path: Path) -> None:
    p = str(tmp_path / "ctr.log")
    w = logfmt.LogWriter(p)
    w.write(b"stdout", b"hel")
    w.write(b"stderr", b"E1\n")
    w.write(b"stdout", b"lo\nwor")
    w.write(b"stdout", b"ld\n")
    w.close()
    lines = Path(p).read_bytes().splitlines()
    assert [ln.split(b" ", 1)[1] for ln in lines] == [
        b"stdout P hel", b"stderr F E1", b"stdout F lo", b"stdout P wor", b"stdout F ld"]  # fmt: skip
    msgs = logread.read_messages(p)
    assert [(s, t) for _, s, t in msgs] == [
        ("stderr", b"E1\n"),
        ("stdout", b"hello\n"),
        ("stdout", b"world\n"),
    ]
    assert logread.parse_line(lines[0])[1:] == ("stdout", True, b"hel")
    # a reopened writer appends and knows the size
    w2 = logfmt.LogWriter(p)
    assert w2.size == Path(p).stat().st_size
    w2.close()


def test_rotation_keeps_file_under_max_size(tmp_path: Path) -> None:
    p = tmp_path / "ctr.log"
    w = logfmt.LogWriter(str(p), max_size=300)
    for i in range(100):
        w.write(b"stdout", f"line {i}\n".encode())
        assert p.stat().st_size <= 300
    w.close()
    last = p.read_bytes().splitlines()
    assert last[-1].endswith(b" stdout F line 99")
    assert not (tmp_path / "ctr.log.tmp").exists()
    # one chunk bigger than the limit still gets written (on a fresh file)
    w = logfmt.LogWriter(str(p), max_size=100)
    w.write(b"stdout", b"y" * 500 + b"\n")
    w.close()
    assert p.read_bytes().endswith(b"y" * 500 + b"\n") and p.read_bytes().count(b"\n") == 1


def test_exit_file_atomic_and_conmon_compatible(tmp_path: Path) -> None:
    p = str(tmp_path / "exit")
    assert exitfile.read_exit_file(p) is None
    exitfile.write_exit_file(p, 3, 1234567890123456789)
    assert json.loads(Path(p).read_text()) == {
        "exit_code": 3,
        "exited_at_ns": 1234567890123456789,
        "signal": None,
    }
    assert exitfile.read_exit_file(p) == {"exit_code": 3, "exited_at_ns": 1234567890123456789, "signal": None}
    assert os.listdir(tmp_path) == ["exit"]  # no temp file left
    Path(p).write_text("137")  # what conmon writes
    r = exitfile.read_exit_file(p)
    assert r is not None and r["exit_code"] == 137 and r["exited_at_ns"] == Path(p).stat().st_mtime_ns


def test_exit_code_from_wait_status() -> None:
    p = subprocess.Popen(["sh", "-c", "exit 3"])
    _, st = os.waitpid(p.pid, 0)
    assert exitfile.exit_code_from_status(st) == (3, None)
    p = subprocess.Popen(["sleep", "10"])
    os.kill(p.pid, signal.SIGKILL)
    _, st = os.waitpid(p.pid, 0)
    assert exitfile.exit_code_from_status(st) == (137, 9)
    p.returncode = 0  # reaped by hand


def test_sync_pipe_messages() -> None:
    r, w = os.pipe()
    syncpipe.write_message(w, syncpipe.encode(42, 7))
    os.close(w)
    assert syncpipe.read_message(r) == {"pid": 42, "monitor_pid": 7}
    os.close(r)
    r, w = os.pipe()
    weird = 'line1\nERRO[0000] runc create failed: "quoted" \\ tab\there \x01 ü'
    syncpipe.write_message(w, syncpipe.encode(-1, 7, weird))
    os.close(w)
    msg = syncpipe.read_message(r)
    os.close(r)
    assert msg == {"pid": -1, "monitor_pid": 7, "message": 'runc create failed: "quoted" \\ tab\there \x01 ü'}
    # EOF without a message: the monitor died
    r, w = os.pipe()
    os.close(w)
    assert syncpipe.read_message(r) is None
    os.close(r)


def test_one_line_picks_the_runtime_error() -> None:
    text = (
        '{"level":"info","msg":"starting","time":"x"}\n'
        '{"level":"error","msg":"runc run failed: no such file","time":"x"}\n'
    )
    assert syncpipe.one_line(text) == "runc run failed: no such file"
    assert syncpipe.one_line("podpy-runtime: bad bundle\n\n") == "podpy-runtime: bad bundle"
    runc_text = (
        'time="2026-11-28T16:23:44Z" level=warning msg="something"\n'
        'time="2026-11-28T16:23:44Z" level=error msg="runc create failed: exec: \\"/x\\": stat /x: no such file"\n'
    )
    assert syncpipe.one_line(runc_text) == 'runc create failed: exec: "/x": stat /x: no such file'
    assert syncpipe.one_line("ERRO[0000] runc run failed: boom\n") == "runc run failed: boom"
    assert syncpipe.one_line("") == "the OCI runtime failed without a message"
    assert len(syncpipe.one_line("x" * 10000)) == syncpipe.MAX_MESSAGE


def test_attach_framing() -> None:
    assert attach.frame(attach.STDOUT, b"hi") == [b"\x02hi"]
    pkts = attach.frame(attach.STDERR, b"z" * 20000)
    assert [len(p) for p in pkts] == [8193, 8193, 20000 - 2 * 8192 + 1]
    assert all(p[0] == 3 for p in pkts)
    assert attach.frame(attach.STDOUT, b"") == []
    assert attach.unframe(b"\x02abc") == (2, b"abc")
    with pytest.raises(ValueError):
        attach.unframe(b"")
    assert attach.parse_ctl(b"1 24 80\n2 0 0\ngarbage\n") == [(1, 24, 80), (2, 0, 0)]
    assert attach.ctl_message(attach.CTL_RESIZE, 24, 80) == b"1 24 80\n"


def test_attach_client_over_seqpacket(tmp_path: Path) -> None:
    # a long directory: the socket path is past sun_path's 107 bytes
    d = tmp_path / ("d" * 60) / ("e" * 60)
    d.mkdir(parents=True)
    path = str(d / "attach")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    attach.bind_unix(srv, path)
    srv.listen(1)
    with attach.AttachClient(path, timeout=5) as c:
        conn, _ = srv.accept()
        for pkt in attach.frame(attach.STDOUT, b"out") + attach.frame(attach.STDERR, b"err"):
            conn.send(pkt)
        assert c.recv() == (2, b"out")
        assert c.recv() == (3, b"err")
        c.send(b"input\n")
        assert conn.recv(100) == b"input\n"
        c.close_stdin()
        assert conn.recv(100) == b""
        conn.close()
        assert c.recv() is None
    srv.close()


def test_sd_notify_ready(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    assert notify.ready(1234, path)
    assert s.recv(100) == b"MAINPID=1234\nREADY=1"
    os.environ.pop("NOTIFY_SOCKET", None)
    assert notify.sd_notify("READY=1") is False
    s.close()


def test_liveness_pid_and_start_time() -> None:
    me = os.getpid()
    st = liveness.proc_start_time(me)
    assert st is not None and liveness.is_alive(me, st)
    assert not liveness.is_alive(me, st + 1)  # same pid, other process
    p = subprocess.Popen(["true"])
    p.wait()
    assert liveness.proc_start_time(p.pid) is None and not liveness.is_alive(p.pid)
    z = subprocess.Popen(["true"])  # a zombie is not alive
    time.sleep(0.3)
    assert not liveness.is_alive(z.pid)
    z.wait()
    assert not liveness.is_alive(0)


def test_follow_reads_until_done_and_across_rotation(tmp_path: Path) -> None:
    import threading

    p = tmp_path / "ctr.log"
    stop = threading.Event()
    w = logfmt.LogWriter(str(p), max_size=200)

    def produce() -> None:
        for i in range(30):
            w.write(b"stdout", f"msg {i}\n".encode())
            time.sleep(0.01)
        w.close()
        stop.set()

    t = threading.Thread(target=produce)
    t.start()
    got = [logread.parse_line(ln)[3] for ln in logread.follow(str(p), stop.is_set, poll=0.01)]
    t.join()
    # rotation drops what was not yet read at most; the newest lines are always there, in order
    nums = [int(x.split()[1]) for x in got]
    assert nums == sorted(nums) and nums[-1] == 29 and len(nums) >= 10
    # a finished log is read whole
    q = tmp_path / "done.log"
    w2 = logfmt.LogWriter(str(q))
    w2.write(b"stderr", b"a\nb\n")
    w2.close()
    assert [logread.parse_line(ln)[1:] for ln in logread.follow(str(q), lambda: True)] == [
        ("stderr", False, b"a"), ("stderr", False, b"b")]  # fmt: skip


def test_wait_exit(tmp_path: Path) -> None:
    ef = str(tmp_path / "exit")
    p = subprocess.Popen(["sh", "-c", f"sleep 0.3; printf 4 > {ef}; sleep 0.2"])
    st = liveness.proc_start_time(p.pid)
    t = time.monotonic()
    ex = liveness.wait_exit(ef, p.pid, st, timeout=10)
    assert ex is not None and ex["exit_code"] == 4 and 0.2 < time.monotonic() - t < 5
    p.wait()
    # a monitor that dies without an exit file: None, at once
    q = subprocess.Popen(["sleep", "0.2"])
    assert liveness.wait_exit(str(tmp_path / "never"), q.pid, None, timeout=10) is None
    q.wait()
    # timeout
    r = subprocess.Popen(["sleep", "5"])
    assert liveness.wait_exit(str(tmp_path / "never"), r.pid, None, timeout=0.3) is None
    r.kill()
    r.wait()
