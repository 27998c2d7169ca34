"""Flag parsing into ContainerSpec: Podman's spellings, clear errors for what is refused."""

from __future__ import annotations

import re

import pytest

from podpy.spec.container import (
    ContainerSpec,
    Mount,
    normalize_cap,
    parse_env,
    parse_mount,
    parse_tmpfs,
    parse_ulimit,
    parse_volume,
)
from podpy.util.errors import UsageError


def test_caps() -> None:
    assert normalize_cap("net_raw") == "CAP_NET_RAW"
    assert normalize_cap("CAP_SYS_ADMIN") == "CAP_SYS_ADMIN"
    assert normalize_cap("all") == "ALL"
    with pytest.raises(UsageError, match="unknown capability"):
        normalize_cap("bogus")


def test_env() -> None:
    assert parse_env(["A=1", "B=", "C=x=y"]) == {"A": "1", "B": "", "C": "x=y"}
    assert parse_env(["HOME", "UNSET_X"], {"HOME": "/h"}) == {"HOME": "/h"}
    with pytest.raises(UsageError):
        parse_env(["=v"])


def test_ulimit() -> None:
    u = parse_ulimit("nofile=100:200")
    assert (u.type, u.soft, u.hard) == ("RLIMIT_NOFILE", 100, 200)
    assert parse_ulimit("core=-1").hard == 2**64 - 1
    for bad in ("nofile", "bogus=1", "nofile=a", "nofile=3:2"):
        with pytest.raises(UsageError):
            parse_ulimit(bad)


def test_volume() -> None:
    assert parse_volume("/tmp:/mnt:ro") == Mount("bind", "/mnt", "/tmp", ("ro", "rprivate", "rbind"))
    assert parse_volume("/a:/b:Z").options == ("rprivate", "rbind")
    with pytest.raises(UsageError, match="relative host paths"):
        parse_volume("./x:/y")
    assert parse_volume("vol:/y").type == "volume"
    with pytest.raises(UsageError, match="absolute"):
        parse_volume("/a:rel")
    with pytest.raises(UsageError, match="invalid volume option"):
        parse_volume("/a:/b:bogus")


def test_tmpfs_and_mount() -> None:
    assert parse_tmpfs("/t").options == ("rw", "rprivate", "nosuid", "nodev", "tmpcopyup")
    assert parse_tmpfs("/t:size=1m,exec").options[-2:] == ("size=1m", "exec")
    m = parse_mount("type=bind,source=/src,destination=/d,ro")
    assert m == Mount("bind", "/d", "/src", ("ro", "rprivate", "rbind"))
    assert parse_mount("type=tmpfs,dst=/x,tmpfs-size=1m").options[-1] == "size=1m"
    assert parse_mount("type=volume,src=v,dst=/x").source == "v"
    with pytest.raises(UsageError, match="type must be"):
        parse_mount("type=image,src=v,dst=/x")
    with pytest.raises(UsageError, match="unsupported option"):
        parse_mount("type=bind,src=/a,dst=/x,bogus=1")


def test_validate() -> None:
    with pytest.raises(UsageError, match="network mode"):
        ContainerSpec(image="x", network="slirp").validate()
    with pytest.raises(UsageError, match="absolute"):
        ContainerSpec(image="x", workdir="rel").validate()
    with pytest.raises(UsageError, match="duplicate"):
        ContainerSpec(image="x", mounts=[parse_tmpfs("/a"), parse_tmpfs("/a")]).validate()


def test_size() -> None:
    from podpy.spec.container import parse_size

    assert parse_size("64m", "--shm-size") == 64 * 1024 * 1024
    assert (
        parse_size("1g", "x") == 1 << 30 and parse_size("512", "x") == 512 and parse_size("2kb", "x") == 2048
    )
    for bad in ("", "0", "-1m", "1t", "m"):
        with pytest.raises(UsageError):
            parse_size(bad, "--shm-size")


def test_signals() -> None:
    from podpy.spec.container import parse_signal

    assert [parse_signal(s) for s in ("TERM", "sigusr2", "9", "RTMIN+2", "SIGRTMAX")] == [15, 12, 9, 36, 64]
    for bad in ("bogus", "0", "65", "RTMIN+x"):
        with pytest.raises(UsageError, match="invalid signal"):
            parse_signal(bad)


def test_detach_keys() -> None:
    from podpy.spec.container import detach_key_bytes, parse_detach_keys

    assert parse_detach_keys("ctrl-p,ctrl-q") == "ctrl-p,ctrl-q" and parse_detach_keys("") == ""
    assert detach_key_bytes("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detach_key_bytes("ctrl-@,a,ctrl-\\,ctrl-_") == b"\x00a\x1c\x1f"
    with pytest.raises(UsageError, match="invalid detach keys: Unknown character: 'ctrl-zz'"):
        parse_detach_keys("ctrl-zz")


def test_userns_modes() -> None:
    from podpy.spec.container import parse_userns

    assert parse_userns("") == parse_userns("host") == "host"
    assert parse_userns("keep-id") == "keep-id" and parse_userns("nomap") == "nomap"
    assert parse_userns("keep-id:gid=7,uid=5") == "keep-id:gid=7,uid=5"
    ContainerSpec(image="x", userns="keep-id:uid=5").validate()
    with pytest.raises(UsageError, match='unknown option specified: "size"'):
        parse_userns("keep-id:size=5")
    with pytest.raises(UsageError, match='parsing "x": invalid syntax'):
        parse_userns("keep-id:uid=x")
    with pytest.raises(UsageError, match="unrecognized namespace mode nomap:uid=1 passed"):
        parse_userns("nomap:uid=1")
    with pytest.raises(UsageError, match="not supported yet"):
        parse_userns("auto")
    with pytest.raises(UsageError, match="unrecognized namespace mode bogus passed"):
        parse_userns("bogus")
    with pytest.raises(UsageError, match="unrecognized namespace mode"):
        ContainerSpec(image="x", userns="bogus").validate()


def test_volume_u_and_o() -> None:
    m = parse_volume("/a:/b:U")
    assert m.chown and not m.overlay and m.options == ("rprivate", "rbind")
    m = parse_volume("/a:/b:ro,U")
    assert m.chown and m.options == ("ro", "rprivate", "rbind")
    m = parse_volume("/a:/b:O")
    assert m.overlay and not m.chown and m.options == () and (m.upperdir, m.workdir) == ("", "")
    m = parse_volume("/a:/b:U,O,upperdir=/u/,workdir=/w")
    assert m.overlay and m.chown and (m.upperdir, m.workdir) == ("/u", "/w")
    for bad, msg in (
        ("/a:/b:O,ro", "can't use 'O' with other options"),  # Podman's messages
        ("/a:/b:O,O", "can only specify 1 'z', 'Z', or 'O' option"),
        ("/a:/b:O,upperdir=/u", "must set both `upperdir` and `workdir`"),
        ("/a:/b:upperdir=/u,workdir=/w", "need the O option"),
        ("/a:/b:O,upperdir=u,workdir=/w", "upperdir must be an absolute path"),
        ("/a,b:/b:O", "cannot contain ',' or ':'"),
    ):
        with pytest.raises(UsageError, match=re.escape(msg)):
            parse_volume(bad)
