"""The syscall seam: real calls report errors naming the call; the fake records and fails on demand."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from podpy.util import syscalls
from podpy.util.syscalls import CapState, LinuxSyscalls, RecordingSyscalls


def test_flag_names_make_messages_readable() -> None:
    assert syscalls.flag_names(syscalls.MS_BIND | syscalls.MS_REC, "MS_") == "MS_BIND|MS_REC"
    assert (
        syscalls.flag_names(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS, "CLONE_")
        == "CLONE_NEWNS|CLONE_NEWUSER"
    )
    assert syscalls.flag_names(0, "MS_") == "0"
    assert syscalls.flag_names(syscalls.MNT_DETACH | 0x100000, "MNT_") == "MNT_DETACH|0x100000"


def test_real_mount_error_names_call_arguments_and_errno() -> None:
    sc = LinuxSyscalls()
    with tempfile.TemporaryDirectory() as d:
        target = os.path.join(d, "missing")
        with pytest.raises(OSError) as ei:
            sc.mount("tmpfs", target, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "size=1m")
    e = ei.value
    assert e.errno in (errno.ENOENT, errno.EPERM)
    assert str(e).startswith(
        f"[Errno {e.errno}] mount('tmpfs', '{target}', 'tmpfs', MS_NODEV|MS_NOSUID, 'size=1m'): "
    )
    assert os.strerror(e.errno) in str(e)


def test_real_pivot_root_and_umount_errors() -> None:
    sc = LinuxSyscalls()
    with pytest.raises(OSError, match=r"pivot_root\('/nonexistent-a', '/nonexistent-b'\)"):
        sc.pivot_root("/nonexistent-a", "/nonexistent-b")
    with pytest.raises(OSError, match=r"umount2\('/nonexistent-a', MNT_DETACH\)"):
        sc.umount2("/nonexistent-a", syscalls.MNT_DETACH)


def test_real_capget_and_prctl_read_this_process() -> None:
    sc = LinuxSyscalls()
    caps = sc.capget()
    with open("/proc/self/status") as f:
        status = dict(line.split(":\t", 1) for line in f if line.startswith("Cap"))
    assert caps.effective == int(status["CapEff"], 16)
    assert caps.permitted == int(status["CapPrm"], 16)
    assert caps.inheritable == int(status["CapInh"], 16)
    assert sc.prctl(syscalls.PR_GET_NO_NEW_PRIVS) == int(
        Path("/proc/self/status").read_text().split("NoNewPrivs:")[1].split()[0]
    )
    assert sc.bounding_has(syscalls.CAPABILITIES["CAP_CHOWN"]) == bool(
        int(status["CapBnd"], 16) & (1 << syscalls.CAPABILITIES["CAP_CHOWN"])
    )


def test_real_set_name_in_a_child() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            LinuxSyscalls().set_name("podpy-a-very-long-name")
            os.write(w, Path("/proc/self/comm").read_bytes())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 100) == b"podpy-a-very-lo\n"  # the kernel keeps 15 bytes
    os.close(r)


def test_real_setns_error_names_the_namespace_file() -> None:
    sc = LinuxSyscalls()
    # joining a mount namespace as the wrong type is EINVAL whatever our privileges
    with pytest.raises(OSError) as ei:
        sc.setns_path("/proc/self/ns/mnt", syscalls.CLONE_NEWNET)
    assert ei.value.errno == errno.EINVAL
    assert "setns('mnt:[" in str(ei.value) and "CLONE_NEWNET" in str(ei.value)


def test_recording_fake_records_and_fails_on_demand() -> None:
    fake = RecordingSyscalls(
        fail={"umount2": errno.EBUSY, "setns": lambda c: errno.EINVAL if c.args[1] else None}
    )
    fake.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    fake.setns(5, 0)
    with pytest.raises(OSError) as ei:
        fake.setns(5, syscalls.CLONE_NEWUSER)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError, match=r"umount2\('/x', 2\)") as ei:
        fake.umount2("/x", syscalls.MNT_DETACH)
    assert ei.value.errno == errno.EBUSY
    fake.set_no_new_privs()
    fake.capset(CapState(effective=1, permitted=3))
    assert fake.capget() == CapState(effective=1, permitted=3)
    assert fake.names() == ["mount", "setns", "setns", "umount2", "prctl", "capset", "capget"]
    assert fake.of("prctl")[0].args[:2] == (syscalls.PR_SET_NO_NEW_PRIVS, 1)


def test_get_set_for_tests_and_use() -> None:
    real = syscalls.get()
    assert isinstance(real, LinuxSyscalls)
    fake = RecordingSyscalls()
    with syscalls.use(fake) as f:
        assert syscalls.get() is f is fake
    assert syscalls.get() is real
    prev = syscalls.set_for_tests(fake)
    try:
        assert syscalls.get() is fake
    finally:
        syscalls.set_for_tests(prev)
    assert syscalls.get() is real


def _in_child(fn: object) -> bytes:
    """Run ``fn()`` (returning bytes) in a forked child: for calls that change the process for good."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.write(w, fn())  # type: ignore[operator]
        except BaseException as e:
            os.write(w, f"error {e}".encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    return out


def test_real_seccomp_filter_is_installed_after_no_new_privs() -> None:
    import struct

    allow_all = struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K SECCOMP_RET_ALLOW

    def child() -> bytes:
        sc = LinuxSyscalls()
        sc.set_no_new_privs()
        sc.seccomp_set_filter(allow_all)
        status = Path("/proc/self/status").read_text()
        return (
            status.split("NoNewPrivs:")[1].split()[0].encode()
            + status.split("Seccomp:")[1].split()[0].encode()
        )

    assert _in_child(child) == b"12"  # no_new_privs=1, seccomp mode 2 (filter)
    with pytest.raises(OSError, match="not a multiple of 8"):
        LinuxSyscalls().seccomp_set_filter(b"\0" * 5)


def test_real_close_range_cloexec_marks_descriptors() -> None:
    import fcntl

    def child() -> bytes:
        fd = os.open("/dev/null", os.O_RDONLY)  # not close-on-exec
        LinuxSyscalls().close_range(3, flags=syscalls.CLOSE_RANGE_CLOEXEC)
        return b"cloexec" if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC else b"inherited"

    assert _in_child(child) == b"cloexec"
