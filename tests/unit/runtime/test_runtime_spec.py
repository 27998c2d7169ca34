"""config.json generation against what Podman 4.3.1 (rootless) wrote on this kind of machine.

The JSON files in data/ are ``podman create`` output with host-specific paths replaced; the
seccomp section is left out (podpy's runtime has no seccomp filter yet).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from podpy.runtime import spec as rs
from podpy.runtime.users import ExecUser
from podpy.spec.container import ContainerSpec, Mount, parse_tmpfs, parse_ulimit, parse_volume
from podpy.util.errors import UsageError

DATA = Path(__file__).parent / "data"
HOST = rs.HostLimits(nofile_soft=20000, nofile_hard=20000, nproc_soft=32768, nproc_hard=32768)
ROOT = ExecUser(0, 0, [], "/root")


def podman(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"podman-4.3.1-rootless-{name}.json").read_text())


def gen(
    spec: ContainerSpec, user: ExecUser = ROOT, image: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    return rs.generate(
        spec, image or {}, rootfs="ROOTFS", container_id="cc2610faef77c3a4", user=user, host=HOST, **kw
    )


def by_dest(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in cfg["mounts"]}


def test_default_matches_podman() -> None:
    want = podman("c1")
    got = gen(ContainerSpec(image="bb", command=["true"]), netns_path="NETNS")
    assert got["process"]["capabilities"] == want["process"]["capabilities"]
    assert got["process"]["rlimits"] == want["process"]["rlimits"]
    assert got["process"]["user"] == want["process"]["user"]
    assert got["process"]["args"] == ["true"]
    assert set(got["process"]["env"]) == set(want["process"]["env"]) - {"HOSTNAME=cc2610faef77"} | {
        "HOSTNAME=cc2610faef77"
    }
    assert got["linux"]["maskedPaths"] == want["linux"]["maskedPaths"]
    assert got["linux"]["readonlyPaths"] == want["linux"]["readonlyPaths"]
    assert got["linux"]["namespaces"] == want["linux"]["namespaces"]
    assert got["linux"]["sysctl"] == want["linux"]["sysctl"]
    assert got["linux"]["resources"] == {}
    assert "seccomp" not in got["linux"]
    want_m, got_m = by_dest(want), by_dest(got)
    for dest in ("/proc", "/dev", "/sys", "/dev/pts", "/dev/mqueue", "/sys/fs/cgroup"):
        assert got_m[dest] == want_m[dest], dest
    assert "/dev/shm" in got_m
    assert got["hostname"] == "cc2610faef77"


def test_default_capabilities_are_capeff_800405fb() -> None:
    caps = gen(ContainerSpec(image="bb", command=["true"]))["process"]["capabilities"]
    from podpy.spec.container import ALL_CAPABILITIES

    mask = sum(1 << ALL_CAPABILITIES[c] for c in caps["effective"])
    assert f"{mask:016x}" == "00000000800405fb"
    assert "inheritable" not in caps and "ambient" not in caps


def test_network_none_matches_podman() -> None:
    want = podman("network-none")
    got = gen(ContainerSpec(image="bb", command=["true"], network="none"))
    assert got["linux"]["namespaces"] == want["linux"]["namespaces"]


def test_readonly_user_host_network_matches_podman() -> None:
    want = podman("readonly-user-host")
    spec = ContainerSpec(
        image="bb",
        command=["true"],
        read_only=True,
        network="host",
        user="1000:1000",
        workdir="/tmp/x",
        env={"FOO": "bar"},
        cap_drop=["ALL"],
        cap_add=["CAP_NET_RAW"],
        no_new_privileges=True,
        ulimits=[parse_ulimit("nofile=100:200")],
        mounts=[parse_tmpfs("/t"), parse_volume("/tmp:/mnt:ro")],
        hostname="myhost",
    )
    got = gen(spec, user=ExecUser(1000, 1000, [1000], "/"))
    assert got["process"]["capabilities"] == want["process"]["capabilities"]
    assert got["process"]["user"] == want["process"]["user"]
    assert got["process"]["rlimits"] == want["process"]["rlimits"]
    assert got["process"]["noNewPrivileges"] is True
    assert got["process"]["cwd"] == "/tmp/x"
    assert got["root"]["readonly"] is True
    assert got["hostname"] == "myhost"
    assert "FOO=bar" in got["process"]["env"] and "HOSTNAME=myhost" in got["process"]["env"]
    assert got["linux"]["namespaces"] == want["linux"]["namespaces"]
    assert got["linux"]["maskedPaths"] == want["linux"]["maskedPaths"]
    assert "sysctl" not in got["linux"]
    want_m, got_m = by_dest(want), by_dest(got)
    for dest in ("/t", "/tmp", "/run", "/var/tmp", "/mnt", "/sys", "/proc", "/dev"):
        assert got_m[dest] == want_m[dest], dest


def test_privileged_matches_podman() -> None:
    want = podman("privileged")
    got = gen(ContainerSpec(image="bb", command=["true"], privileged=True))
    assert got["process"]["capabilities"] == want["process"]["capabilities"]
    assert "maskedPaths" not in got["linux"] and "readonlyPaths" not in got["linux"]
    assert by_dest(got)["/sys"]["options"][-1] == "rw"


def test_args_entrypoint_and_cmd() -> None:
    image = {"Entrypoint": ["/ep"], "Cmd": ["a", "b"]}
    assert rs.process_args(ContainerSpec(image="x"), image) == ["/ep", "a", "b"]
    assert rs.process_args(ContainerSpec(image="x", command=["c"]), image) == ["/ep", "c"]
    # --entrypoint drops the image's Cmd, as in Podman
    assert rs.process_args(ContainerSpec(image="x", entrypoint=["/bin/sh"]), image) == ["/bin/sh"]
    assert rs.process_args(ContainerSpec(image="x", entrypoint=[], command=["ls"]), image) == ["ls"]
    with pytest.raises(UsageError, match="no command or entrypoint"):
        rs.process_args(ContainerSpec(image="x"), {})


def test_env_image_then_user_and_home_from_passwd() -> None:
    env = rs.process_env(
        ContainerSpec(image="x", env={"A": "2"}), {"Env": ["A=1", "PATH=/x"]}, "h", "/home/u"
    )
    d = dict(e.split("=", 1) for e in env)
    assert d["A"] == "2" and d["PATH"] == "/x" and d["HOME"] == "/home/u" and d["HOSTNAME"] == "h"
    assert d["container"] == "podman" and d["TERM"] == "xterm"


def test_workdir_from_image_and_user_mount_overrides_default() -> None:
    cfg = gen(ContainerSpec(image="x", command=["true"], mounts=[Mount("tmpfs", "/dev/shm", "tmpfs", ("rw",))]),
              image={"WorkingDir": "/srv"})  # fmt: skip
    assert cfg["process"]["cwd"] == "/srv"
    shm = [m for m in cfg["mounts"] if m["destination"] == "/dev/shm"]
    assert shm == [{"destination": "/dev/shm", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]}]


def test_cap_add_drop_root() -> None:
    caps = gen(ContainerSpec(image="x", command=["t"], cap_add=["CAP_NET_RAW"], cap_drop=["CAP_CHOWN"]))
    eff = caps["process"]["capabilities"]["effective"]
    assert "CAP_NET_RAW" in eff and "CAP_CHOWN" not in eff and len(eff) == 11
    none = gen(ContainerSpec(image="x", command=["t"], cap_drop=["ALL"]))["process"]["capabilities"]
    assert none["bounding"] == [] and none["effective"] == []


def test_nonroot_user_gets_no_default_effective_caps() -> None:
    caps = gen(ContainerSpec(image="x", command=["t"]), user=ExecUser(1000, 1000, [1000]))["process"][
        "capabilities"
    ]
    assert caps["bounding"] == sorted(caps["bounding"]) and len(caps["bounding"]) == 11
    assert caps["effective"] == [] and "ambient" not in caps


def test_host_limits_current_is_sane() -> None:
    h = rs.HostLimits.current()
    assert 0 < h.nofile_soft <= h.nofile_hard and 0 < h.nproc_soft <= h.nproc_hard


def test_config_is_json_serialisable_and_structural() -> None:
    cfg = gen(ContainerSpec(image="x", command=["t"]))
    json.dumps(cfg)
    assert cfg["ociVersion"].startswith("1.0")
    for m in cfg["mounts"]:
        assert m["destination"].startswith("/") and isinstance(m["options"], list)
    for r in cfg["process"]["rlimits"]:
        assert r["type"].startswith("RLIMIT_") and r["soft"] <= r["hard"]


def test_init_and_shm_size() -> None:
    cfg = gen(
        ContainerSpec(image="x", command=["sleep", "1"], init_path="/usr/bin/catatonit", shm_size=1 << 20)
    )
    assert cfg["process"]["args"] == ["/run/podman-init", "--", "sleep", "1"]
    m = by_dest(cfg)
    assert (
        m["/run/podman-init"]["source"] == "/usr/bin/catatonit" and "ro" in m["/run/podman-init"]["options"]
    )
    assert "size=1024k" in m["/dev/shm"]["options"]
    assert cfg["annotations"]["io.podman.annotations.init"] == "TRUE"


def test_seccomp_in_config_unless_unconfined_or_privileged() -> None:
    prof = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
    }
    assert (
        gen(ContainerSpec(image="x", command=["t"]), seccomp_profile=prof)["linux"]["seccomp"][
            "defaultErrnoRet"
        ]
        == 38
    )
    assert (
        "seccomp"
        not in gen(ContainerSpec(image="x", command=["t"], seccomp="unconfined"), seccomp_profile=prof)[
            "linux"
        ]
    )
    assert (
        "seccomp"
        not in gen(ContainerSpec(image="x", command=["t"], privileged=True), seccomp_profile=prof)["linux"]
    )


NS_HOST = rs.HostLimits(20000, 20000, 32768, 32768, ((0, 1001, 1), (1, 100000, 65536)), ((0, 1001, 1), (1, 100000, 65536)))  # fmt: skip


def test_userns_mappings_match_podman() -> None:
    # `podman run --userns=keep-id busybox cat /proc/self/uid_map` as uid 1001 with a 65536 subuid range
    uids, gids, uid, gid = rs.userns_mappings("keep-id", NS_HOST)
    assert [(m["containerID"], m["hostID"], m["size"]) for m in uids] == [
        (0, 1, 1001),
        (1001, 0, 1),
        (1002, 1002, 64535),
    ]
    assert uids == gids and (uid, gid) == (1001, 1001)
    uids, _, _, _ = rs.userns_mappings("nomap", NS_HOST)
    assert uids == [{"containerID": 0, "hostID": 1, "size": 65536}]
    single = rs.HostLimits(1, 1, 1, 1, ((0, 1001, 1),), ((0, 1001, 1),))
    assert rs.userns_mappings("keep-id", single)[0] == [{"containerID": 1001, "hostID": 0, "size": 1}]
    with pytest.raises(UsageError, match="subordinate"):
        rs.userns_mappings("nomap", single)
    rootful = rs.HostLimits(1, 1, 1, 1, ((0, 0, 4294967295),), ((0, 0, 4294967295),))
    with pytest.raises(UsageError, match="only supported in rootless mode"):
        rs.userns_mappings("keep-id", rootful)


def test_keep_id_bundle_runs_as_the_user_in_a_new_userns() -> None:
    spec = ContainerSpec(image="x", command=["id"], userns="keep-id")
    cfg = rs.generate(spec, {}, rootfs="R", container_id="c" * 12, user=ROOT, host=NS_HOST)
    assert cfg["linux"]["namespaces"][0] == {"type": "user"}
    assert cfg["linux"]["uidMappings"][1] == {"containerID": 1001, "hostID": 0, "size": 1}
    assert cfg["process"]["user"]["uid"] == 1001 and cfg["process"]["capabilities"]["effective"] == []
    plain = rs.generate(ContainerSpec(image="x", command=["id"]), {}, rootfs="R", container_id="c" * 12,
                        user=ROOT, host=NS_HOST)  # fmt: skip
    assert "uidMappings" not in plain["linux"] and {"type": "user"} not in plain["linux"]["namespaces"]


def test_stop_signal_annotation() -> None:
    key = "org.opencontainers.image.stopSignal"
    assert gen(ContainerSpec(image="x", command=["true"], stop_signal=12))["annotations"][key] == "12"
    assert (
        gen(ContainerSpec(image="x", command=["true"]), image={"StopSignal": "SIGQUIT"})["annotations"][key]
        == "3"
    )
    assert (
        key
        not in gen(ContainerSpec(image="x", command=["true"]), image={"StopSignal": "bogus"})["annotations"]
    )
    assert key not in gen(ContainerSpec(image="x", command=["true"]))["annotations"]
