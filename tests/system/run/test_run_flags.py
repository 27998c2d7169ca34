"""``podpy run`` flags of issue 3, one behaviour each, compared by hand with ``podman run`` (4.3.1).

Expected outputs are what Podman prints for the same command on this machine; where podpy differs
on purpose (a refusal instead of a silent difference), the test says why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.system.run.test_run_cli import IMG


def loaded_base(podpy_root, testenv: dict[str, Any]) -> list[str]:  # type: ignore[no-untyped-def]
    """``podpy --root R --runroot RR`` with busybox loaded, for tests that run podpy themselves."""
    from tests.conftest import _podpy_command

    base = [*_podpy_command(), *podpy_root.args]
    load = subprocess.run([*base, "load", "-i", testenv["archives"]["busybox-docker-archive"]["path"]],
                          capture_output=True, text=True)  # fmt: skip
    assert load.returncode == 0, load.stderr
    return base


def out(r: subprocess.CompletedProcess[str]) -> list[str]:
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_env_from_host_and_env_host(podpy) -> None:  # type: ignore[no-untyped-def]
    env = {"PODPY_HX": "from-host", "PODPY_UNSET": None}
    r = podpy("run", "--rm", "-e", "PODPY_HX", "-e", "PODPY_UNSET", IMG, "sh", "-c",
              'echo "$PODPY_HX ${PODPY_UNSET-unset}"', env=env)  # fmt: skip
    assert out(r) == ["from-host unset"]  # -e VAR takes the host's value; an unset one is skipped
    r = podpy("run", "--rm", "--env-host", "-e", "PODPY_HX=flag", IMG, "sh", "-c", "echo $PODPY_HX $PODPY_TESTENV",
              env=env)  # fmt: skip
    assert out(r) == [f"flag {os.environ['PODPY_TESTENV']}"]  # every host variable, -e wins


def test_entrypoint_string_and_empty(podpy) -> None:  # type: ignore[no-untyped-def]
    assert out(podpy("run", "--rm", "--entrypoint", "echo", IMG, "hi", "there")) == ["hi there"]
    assert out(podpy("run", "--rm", "--entrypoint", "", IMG, "echo", "no-entrypoint")) == ["no-entrypoint"]
    r = podpy("run", "--rm", "--entrypoint", "[1]", IMG)
    assert r.returncode == 125 and "must be an array of strings" in r.stderr


@pytest.mark.parametrize(
    "args, want",
    [
        (["-u", "tester"], ["uid=1000(tester) gid=1000(tester) groups=1000(tester)", "/home/tester"]),
        (["-u", "1000"], ["uid=1000(tester) gid=1000(tester) groups=1000(tester)", "/home/tester"]),
        (["-u", "1:2"], ["uid=1 gid=2 groups=2", "/"]),  # Podman adds passwd lines, so it prints uid=1(1)
        (["-u", "4242"], ["uid=4242 gid=0(root) groups=0(root)", "/"]),
        (["-u", "tester:root", "--group-add", "65534"],
         ["uid=1000(tester) gid=0(root) groups=0(root),65534(nogroup)", "/home/tester"]),
        (["--group-add", "nogroup"], ["uid=0(root) gid=0(root) groups=65534(nogroup)", "/root"]),
    ],
)  # fmt: skip
def test_user_forms(podpy, args: list[str], want: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert out(podpy("run", "--rm", *args, IMG, "sh", "-c", "id; echo $HOME")) == want


def test_volumes_mounts_tmpfs(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    v = tmp_path / "v"
    v.mkdir()
    (v / "f").write_text("hi\n")
    r = podpy("run", "--rm", "-v", f"{v}:/v:rw,z", IMG, "sh", "-c", "cat /v/f; echo new > /v/w")
    assert out(r) == ["hi"] and (v / "w").read_text() == "new\n"  # z: accepted, no SELinux here
    r = podpy("run", "--rm", "-v", f"{v}:/v:Z,ro", IMG, "sh", "-c", "touch /v/x 2>/dev/null || echo ro")
    assert out(r) == ["ro"]
    r = podpy("run", "--rm", "--mount", f"type=bind,source={v},target=/m,ro=true", IMG, "sh", "-c",
              "cat /m/f; touch /m/x 2>/dev/null || echo ro")  # fmt: skip
    assert out(r) == ["hi", "ro"]
    script = "grep -E ' /t[123] ' /proc/mounts | cut -d' ' -f2,4"
    r = podpy("run", "--rm", "--mount", "type=tmpfs,destination=/t1,tmpfs-size=1m", "--tmpfs", "/t2:size=2m,mode=1770",
              "--tmpfs", "/t3", IMG, "sh", "-c", script)  # fmt: skip
    uid = os.getuid()
    assert out(r) == [  # Podman 4.3 prints exactly these options
        f"/t1 rw,nosuid,nodev,relatime,size=1024k,uid={uid},gid={uid}",
        f"/t2 rw,nosuid,nodev,relatime,size=2048k,mode=1770,uid={uid},gid={uid}",
        f"/t3 rw,nosuid,nodev,relatime,uid={uid},gid={uid}",
    ]
    r = podpy("run", "--rm", "--read-only", "--read-only-tmpfs=false", IMG, "sh", "-c",
              "touch /tmp/x 2>/dev/null || echo tmp-ro")  # fmt: skip
    assert out(r) == ["tmp-ro"]


def test_labels_annotations_stop_signal(podpy, podpy_root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cidfile = tmp_path / "cid"
    r = podpy("run", "--name", "meta", "--cidfile", str(cidfile), "-l", "a=b", "--label", "c=", "--annotation", "x.y=z",
              "--stop-signal", "USR2", IMG, "true")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out(podpy("ps", "-a", "--filter", "label=a=b", "--format", "{{.Names}} {{.Labels}}")) == [
        "meta map[a:b c:]"
    ]
    cfg = json.loads(
        (podpy_root.root / "containers" / cidfile.read_text() / "userdata/config.json").read_text()
    )
    assert cfg["annotations"]["x.y"] == "z"
    assert cfg["annotations"]["org.opencontainers.image.stopSignal"] == "12"  # a number, as Podman writes it
    # as Podman: the image's labels are the container's too, the flags' win
    r = podpy("commit", "-q", "-c", "LABEL a=img", "-c", "LABEL only.img=1", "meta", "labelled")
    assert r.returncode == 0, r.stderr
    r = podpy("run", "--name", "meta2", "-l", "a=b", "labelled", "true")
    assert r.returncode == 0, r.stderr
    labels = json.loads(out(podpy("inspect", "--format", "{{json .Config.Labels}}", "meta2"))[0])
    assert (labels["a"], labels["only.img"]) == ("b", "1"), labels


def test_network_modes(podpy) -> None:  # type: ignore[no-untyped-def]
    host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    r = podpy("run", "--rm", "--network", "host", IMG, "sh", "-c", "ip -o link | wc -l")
    assert out(r) == [str(len(host_links.splitlines()))]
    links = "ip -o link | cut -d: -f2"
    assert out(podpy("run", "--rm", "--network", "none", IMG, "sh", "-c", links)) == [" lo"]
    # private is the default rootless network: slirp4netns's tap0 next to lo (tests/system/network has more)
    for mode in ("private", "slirp4netns"):
        assert out(podpy("run", "--rm", "--network", mode, IMG, "sh", "-c", links)) == [" lo", " tap0"]


def test_userns(podpy) -> None:  # type: ignore[no-untyped-def]
    assert out(podpy("run", "--rm", "--userns", "host", IMG, "id", "-u")) == ["0"]
    assert out(podpy("run", "--rm", "--userns=keep-id", IMG, "id", "-u")) == [str(os.getuid())]


def test_capabilities_and_security_opts(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def caps(*args: str) -> list[str]:
        return out(podpy("run", "--rm", *args, IMG, "grep", "-E", "^Cap(Inh|Eff|Amb)", "/proc/self/status"))

    assert caps("--cap-drop", "all")[1] == "CapEff:\t0000000000000000"
    assert caps("--cap-add", "all")[1] == "CapEff:\t000001ffffffffff"
    assert caps("--cap-add", "all", "--cap-drop", "chown")[1] == "CapEff:\t000001fffffffffe"
    # a non-root user gets only what was added, in every set (Podman's rule)
    assert caps("-u", "1000", "--cap-add", "net_raw") == [
        f"Cap{s}:\t0000000000002000" for s in ("Inh", "Eff", "Amb")
    ]
    for opt in ("no-new-privileges", "no-new-privileges=true"):
        r = podpy("run", "--rm", "--security-opt", opt, IMG, "grep", "NoNewPrivs", "/proc/self/status")
        assert out(r) == ["NoNewPrivs:\t1"]
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))  # fmt: skip
    r = podpy("run", "--rm", "--security-opt", f"seccomp={profile}", IMG, "sh", "-c",
              "grep ^Seccomp: /proc/self/status; mkdir /tmp/d 2>&1")  # fmt: skip
    assert r.stdout.splitlines() == [
        "Seccomp:\t2",
        "mkdir: can't create directory '/tmp/d': Operation not permitted",
    ]


def test_privileged(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--privileged", IMG, "sh", "-c",
              "grep -E '^(CapEff|Seccomp):' /proc/self/status; grep ' /sys ' /proc/mounts | cut -d' ' -f4")  # fmt: skip
    assert out(r) == [
        "CapEff:\t000001ffffffffff",
        "Seccomp:\t0",
        "rw,nosuid,nodev,noexec,relatime",
    ]  # /sys rw


def test_ulimit(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--ulimit", "nofile=123:456", "--ulimit", "core=-1", IMG, "sh", "-c",
              "ulimit -n; ulimit -Hn; ulimit -c")  # fmt: skip
    assert out(r) == ["123", "456", "unlimited"]


def test_preserve_fds(podpy_root, testenv) -> None:  # type: ignore[no-untyped-def]
    base = loaded_base(podpy_root, testenv)
    r_fd, w_fd = os.pipe()
    os.write(w_fd, b"through fd 3\n")
    os.close(w_fd)
    try:  # the child gets the pipe as its fd 3; ours (pytest's) stays untouched
        r = subprocess.run([*base, "run", "--rm", "--preserve-fds", "1", IMG, "sh", "-c", "cat <&3; ls /proc/self/fd"],
                           capture_output=True, text=True, close_fds=False, preexec_fn=lambda: os.dup2(r_fd, 3),
                           stdin=subprocess.DEVNULL)  # fmt: skip
    finally:
        os.close(r_fd)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["through", "fd", "3", "0", "1", "2", "3", "4"]  # 4: ls's own directory handle


def test_killed_by_signal_exit_code_with_init(podpy) -> None:  # type: ignore[no-untyped-def]
    # PID 1 ignores even SIGKILL from inside its namespace; under --init the command is PID 2
    assert podpy("run", "--rm", "--init", IMG, "sh", "-c", "kill -9 $$").returncode == 128 + 9
    r = podpy("run", "--rm", "--init-path", "/nonexistent", "--init", IMG, "true")
    assert (
        r.returncode == 125 and "container-init binary not found on the host: stat /nonexistent" in r.stderr
    )


def test_sig_proxy_forwards_signals(podpy_root, testenv) -> None:  # type: ignore[no-untyped-def]
    base = loaded_base(podpy_root, testenv)
    script = 'trap "echo got-usr1; exit 7" USR1; echo ready; while :; do sleep 0.1; done'
    p = subprocess.Popen([*base, "run", "--rm", IMG, "sh", "-c", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGUSR1)
        assert p.wait(timeout=60) == 7
        assert p.stdout.read() == "got-usr1\n"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_pull_policies_and_platform(podpy, testenv) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--pull=never", "127.0.0.1:5000/no/such:image", "true")
    assert r.returncode == 125 and "image not known" in r.stderr
    r = podpy("run", "--rm", "--pull=bogus", IMG, "true")
    assert r.returncode == 125 and "pull policy" in r.stderr
    r = podpy("run", "--rm", "-q", "--pull=always", "--tls-verify=false", "--platform", "linux/amd64",
              testenv["images"]["busybox"]["ref"], "echo", "pulled")  # fmt: skip
    assert out(r) == ["pulled"]


def test_detach_keys(podpy) -> None:  # type: ignore[no-untyped-def]
    assert out(podpy("run", "--rm", "--detach-keys", "", IMG, "echo", "ok")) == ["ok"]
    r = podpy("run", "--rm", "--detach-keys", "ctrl-zz", IMG, "true")
    assert r.returncode == 125 and "invalid detach keys: Unknown character: 'ctrl-zz'" in r.stderr
