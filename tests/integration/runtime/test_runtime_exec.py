"""podpy's runtime and runc run the same bundles with the same, Podman-like results."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.runtime.conftest import Runtime


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def test_identity_caps_fds_hostname_env_cwd(runtime: Runtime, make_bundle) -> None:
    script = (
        "id; grep Cap /proc/self/status; echo fds; ls /proc/self/fd; echo end; hostname; pwd; "
        "echo FOO=$FOO HOME=$HOME; echo nnp=$(grep NoNewPrivs /proc/self/status | tr -d '\\t ')"
    )
    b = make_bundle(["sh", "-c", script], env={"FOO": "bar"}, hostname="ctrhost", workdir="/work/dir")
    r = runtime.run(b)
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert out[0] == "uid=0(root) gid=0(root)"
    assert "CapInh:\t0000000000000000" in out
    assert "CapPrm:\t00000000800405fb" in out
    assert "CapEff:\t00000000800405fb" in out
    assert "CapBnd:\t00000000800405fb" in out
    assert "CapAmb:\t0000000000000000" in out
    fds = out[out.index("fds") + 1 : out.index("end")]
    assert fds == ["0", "1", "2", "3"]  # 3 is ls's own handle on /proc/self/fd
    assert "ctrhost" in out
    assert "/work/dir" in out
    assert "FOO=bar HOME=/root" in out
    assert "nnp=NoNewPrivs:0" in out


def test_nonroot_user_and_no_new_privileges(runtime: Runtime, make_bundle) -> None:
    b = make_bundle(["sh", "-c", "id; grep -E 'CapEff|CapBnd|NoNewPrivs' /proc/self/status; echo HOME=$HOME"],
                    user="user", no_new_privileges=True)  # fmt: skip
    r = runtime.run(b)
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert out[0] == "uid=1000(user) gid=1000(user) groups=10(wheel),1000(user)"
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t00000000800405fb" in out
    assert "NoNewPrivs:\t1" in out and "HOME=/home/user" in out


def test_cap_add_drop(runtime: Runtime, make_bundle) -> None:
    b = make_bundle(["grep", "CapEff", "/proc/self/status"], cap_drop=["ALL"], cap_add=["CAP_NET_RAW"])
    r = runtime.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["CapEff:", f"{1 << 13:016x}"]


def test_masked_and_readonly_proc(runtime: Runtime, make_bundle) -> None:
    script = (
        "echo keys=$(cat /proc/keys | wc -c); echo tl=$(cat /proc/timer_list | wc -c); "
        "if echo x > /proc/sys/kernel/domainname; then echo sysw=yes; else echo sysw=no; fi; "
        "if echo 1 > /proc/sysrq-trigger; then echo sysrq=yes; else echo sysrq=no; fi; "
        "if touch /sys/x 2>/dev/null; then echo sys=rw; else echo sys=ro; fi; ls /proc/acpi 2>/dev/null | wc -l"
    )
    r = runtime.run(make_bundle(["sh", "-c", script]))
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    for want in ("keys=0", "tl=0", "sysw=no", "sysrq=no", "sys=ro"):
        assert want in out, (want, out)
    assert out[-1] == "0"


def test_dev_contents(runtime: Runtime, make_bundle) -> None:
    script = (
        "for d in null zero full random urandom tty; do test -c /dev/$d && echo $d; done; "
        "for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done; "
        "mount | grep -E ' /dev/(pts|shm|mqueue) ' | cut -d' ' -f1,3,5; echo hi > /dev/null && echo w"
    )
    r = runtime.run(make_bundle(["sh", "-c", script]))
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert out[:6] == ["null", "zero", "full", "random", "urandom", "tty"]
    assert out[6:11] == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"]
    assert "devpts /dev/pts devpts" in out and "mqueue /dev/mqueue mqueue" in out
    assert any(o.endswith("/dev/shm tmpfs") for o in out) and out[-1] == "w"


def test_pid_namespace_hides_runtime(runtime: Runtime, make_bundle) -> None:
    r = runtime.run(
        make_bundle(["sh", "-c", "ls /proc | grep -E '^[0-9]+$'; cat /proc/1/cmdline | tr '\\0' ' '"])
    )
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert "python" not in r.stdout and "podpy" not in r.stdout
    assert out[0] == "1" and out[-1].startswith("sh -c")


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exit_code(runtime: Runtime, make_bundle, code: int) -> None:
    r = runtime.run(make_bundle(["sh", "-c", f"exit {code}"]))
    assert r.returncode == code, r.stderr


def test_not_found_and_not_executable(runtime: Runtime, make_bundle) -> None:
    r = runtime.run(make_bundle(["nonexistent-cmd"]))
    assert r.returncode != 0
    assert "nonexistent-cmd" in r.stderr and "not found" in r.stderr
    r2 = runtime.run(make_bundle(["/etc/passwd"]), cid="c2")
    assert r2.returncode != 0 and "permission denied" in r2.stderr.lower()
    if runtime.name == "podpy":
        assert (r.returncode, r2.returncode) == (127, 126)


def test_killed_by_signal_is_128_plus_n(runtime: Runtime, make_bundle, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    p = runtime.popen(make_bundle(["sleep", "60"]), "sig", ["--pid-file", str(pidfile)])
    try:
        deadline = time.monotonic() + 20
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline, p.stderr.read() if p.poll() is not None else "no pid file"
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        assert p.wait(timeout=20) == 128 + signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_readonly_rootfs_with_tmpfs_dirs(runtime: Runtime, make_bundle) -> None:
    script = "touch /x 2>/dev/null && echo root=rw || echo root=ro; touch /tmp/y && echo tmp=rw; ls -d /run /var/tmp"
    r = runtime.run(make_bundle(["sh", "-c", script], read_only=True))
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) == ["root=ro", "tmp=rw", "/run", "/var/tmp"]


def test_rlimits(runtime: Runtime, make_bundle) -> None:
    from podpy.spec.container import parse_ulimit

    r = runtime.run(
        make_bundle(["sh", "-c", "ulimit -n; ulimit -Hn"], ulimits=[parse_ulimit("nofile=100:200")])
    )
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) == ["100", "200"]


def test_network_none_has_loopback_up(runtime: Runtime, make_bundle) -> None:
    r = runtime.run(make_bundle(["sh", "-c", "ip -o link | cut -d: -f2,3"], network="none"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(":")[0].strip() == "lo" and "UP" in r.stdout and r.stdout.count("\n") == 1


def test_seccomp_default_and_unconfined(runtime: Runtime, make_bundle) -> None:
    script = (
        "grep -E '^Seccomp(_filters)?:' /proc/self/status | tr -d '\\t'; swapoff /nonexistent 2>&1 | tail -1"
    )
    r = runtime.run(make_bundle(["sh", "-c", script]))
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert out[0] == "Seccomp:2"
    assert "Operation not permitted" in out[-1]  # swapoff: an explicit EPERM rule
    r2 = runtime.run(make_bundle(["sh", "-c", "grep '^Seccomp:' /proc/self/status | tr -d '\\t'"], seccomp="unconfined"),
                     cid="c2")  # fmt: skip
    assert r2.stdout.strip() == "Seccomp:0", r2.stderr


def test_seccomp_default_errno_is_enosys(runtime: Runtime, make_bundle, tmp_path: Path) -> None:
    # a syscall outside the profile's allow list gets ENOSYS (38), as under Podman
    b = make_bundle(["sh", "-c", "echo ok"])
    for rule in b.config["linux"]["seccomp"]["syscalls"]:  # take mkdir off the allow list
        rule["names"] = [n for n in rule["names"] if n not in ("mkdir", "mkdirat")]
    b.config["linux"]["seccomp"]["syscalls"] = [
        r for r in b.config["linux"]["seccomp"]["syscalls"] if r["names"]
    ]
    b.config["process"]["args"] = ["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"]
    b.write()
    r = runtime.run(b)
    assert "Function not implemented" in r.stdout and "rc=1" in r.stdout, (r.stdout, r.stderr)


def test_new_user_namespace_from_mappings(runtime: Runtime, make_bundle) -> None:
    """A bundle with uidMappings (what --userns=keep-id generates) gets its own user namespace."""
    from podpy.runtime import spec as rs

    host = rs.HostLimits.current()
    ns = rs.HostLimits(host.nofile_soft, host.nofile_hard, host.nproc_soft, host.nproc_hard,
                       ((0, 1000, 1), (1, 200000, 60000)), ((0, 1000, 1), (1, 200000, 60000)))  # fmt: skip
    uids, gids, uid, gid = rs.userns_mappings("keep-id", ns)
    script = "cat /proc/self/uid_map | tr -s ' '; id -u; id -g; ls -nd /proc/1 | tr -s ' ' | cut -d' ' -f3"
    b = make_bundle(["sh", "-c", script])
    b.config["linux"]["namespaces"].insert(0, {"type": "user"})
    b.config["linux"]["uidMappings"], b.config["linux"]["gidMappings"] = uids, gids
    b.config["process"]["user"] = {"uid": uid, "gid": gid}
    b.config["process"]["capabilities"] = {"bounding": b.config["process"]["capabilities"]["bounding"]}
    b.write()
    r = runtime.run(b)
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) == [" 0 1 1000", " 1000 0 1", " 1001 1001 59000", "1000", "1000", "1000"]


def test_builtin_init_as_pid_1(runtime: Runtime, make_bundle, tmp_path: Path) -> None:
    """--init without catatonit: podpy's built-in init is PID 1, reaps orphans, passes on the status."""
    from podpy.runtime.init import builtin_init

    init_path = builtin_init(tmp_path / "init")
    script = (
        "(sleep 0.1 &); sleep 0.5; tr '\\0' ' ' < /proc/1/cmdline; echo; "
        "echo zombies=$(grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l); kill -9 $$"
    )
    r = runtime.run(make_bundle(["sh", "-c", script], init_path=init_path))
    assert r.returncode == 128 + 9, r.stderr
    assert lines(r.stdout) == ["/run/podman-init -- sh -c " + script + " ", "zombies=0"]


def test_unwritable_mappings_fail_cleanly(runtime: Runtime, make_bundle) -> None:
    b = make_bundle(["true"])
    b.config["linux"]["namespaces"].insert(0, {"type": "user"})
    b.config["linux"]["uidMappings"] = b.config["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": 1, "size": 10**7}
    ]
    b.write()
    r = runtime.run(b, timeout=60)  # more ids than the namespace has: refused, nothing hangs
    assert r.returncode != 0
    if runtime.name == "podpy":
        assert "writing uid_map of the container's user namespace" in r.stderr, r.stderr
