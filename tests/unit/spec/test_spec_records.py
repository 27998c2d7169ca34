"""``Mount``, ``Ulimit`` and ``ContainerSpec`` as ``podpy.util.record.Record``s behave as the dataclasses
they replaced: fields, defaults, equality, hashing, repr, ``replace``, ``as_dict`` (= ``dataclasses.asdict``)."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import pytest

from podpy.spec.container import ContainerSpec, Mount, Ulimit

MOUNT_FIELDS = ("type", "destination", "source", "options", "chown", "overlay", "upperdir", "workdir", "volume",
                "nocopy")  # fmt: skip

# dataclasses.asdict(ContainerSpec(image="x")) of the dataclass, field order included
SPEC_DEFAULTS = {
    "image": "x", "command": None, "entrypoint": None, "env": {}, "workdir": None, "user": None, "group_add": [],
    "hostname": None, "name": None, "read_only": False, "read_only_tmpfs": True, "mounts": [], "cap_add": [],
    "cap_drop": [], "no_new_privileges": False, "privileged": False, "seccomp": None, "ulimits": [],
    "terminal": False, "network": "private", "ports": [], "publish_all": False, "dns": [], "dns_search": [],
    "dns_options": [], "add_hosts": [], "no_hosts": False, "networks": {}, "remove": False, "preserve_fds": 0,
    "interactive": False, "init_path": None, "shm_size": None, "labels": {}, "sig_proxy": True,
    "annotations": {}, "stop_signal": None, "stop_timeout": None, "secrets": [], "unsetenv": [],
    "unsetenv_all": False, "umask": None, "sysctls": {}, "expose": [], "requires": [], "image_volume": "bind",
    "rmi": False, "pidfile": "", "conmon_pidfile": "", "detach_keys": None, "userns": "host",
    "log_driver": "k8s-file", "log_max_size": 0, "log_path": None, "restart_policy": "", "restart_max": 0,
    "healthcheck": None, "health_on_failure": "none", "sdnotify": "container", "pod": "", "volumes_from": [],
}  # fmt: skip
_LIST_FIELDS = [k for k, v in SPEC_DEFAULTS.items() if v == [] or v == {}]


def _full_mount() -> Mount:
    return Mount("bind", "/data", "/srv", ("rw", "rbind"), True, True, "/up", "/work", "vol", True)


def test_mount_defaults_and_positional_order() -> None:
    m = Mount("tmpfs", "/t")
    assert Mount.__slots__ == MOUNT_FIELDS
    assert [getattr(m, f) for f in MOUNT_FIELDS] == ["tmpfs", "/t", "", (), False, False, "", "", "", False]
    full = _full_mount()
    assert full == Mount(type="bind", destination="/data", source="/srv", options=("rw", "rbind"), chown=True,
                         overlay=True, upperdir="/up", workdir="/work", volume="vol", nocopy=True)  # fmt: skip
    with pytest.raises(TypeError):
        Mount("bind")  # type: ignore[call-arg]  # destination has no default


def test_mount_equality_hash_repr() -> None:
    a, b = Mount("bind", "/d", "/s", ("ro",)), Mount("bind", "/d", "/s", ("ro",))
    assert a == b and a.__ne__(b) is False and hash(a) == hash(b)
    assert hash(a) == hash(("bind", "/d", "/s", ("ro",), False, False, "", "", "", False))  # the frozen dataclass's
    assert a != Mount("bind", "/d", "/s", ("rw",)) and a != b.replace(nocopy=True)
    assert a != ("bind", "/d", "/s", ("ro",), False, False, "", "", "", False)  # another class: never equal
    assert len({a, b, Mount("tmpfs", "/d")}) == 2
    assert repr(a) == ("Mount(type='bind', destination='/d', source='/s', options=('ro',), chown=False, "
                       "overlay=False, upperdir='', workdir='', volume='', nocopy=False)")  # fmt: skip


def test_mount_is_frozen() -> None:
    m = Mount("bind", "/d")
    with pytest.raises(AttributeError, match="cannot assign to field 'source'"):
        m.source = "/x"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot delete field 'source'"):
        del m.source  # type: ignore[misc]
    with pytest.raises(AttributeError):
        m.other = 1  # type: ignore[attr-defined]
    assert m.source == ""


def test_mount_replace_and_as_dict() -> None:
    m = _full_mount()
    r = m.replace(destination="/other", chown=False)
    assert (r.destination, r.chown, r.source, r.options) == ("/other", False, "/srv", ("rw", "rbind"))
    assert m.destination == "/data"  # the original is unchanged
    with pytest.raises(TypeError):
        m.replace(dest="/x")
    assert m.as_dict() == {"type": "bind", "destination": "/data", "source": "/srv", "options": ("rw", "rbind"),
                           "chown": True, "overlay": True, "upperdir": "/up", "workdir": "/work", "volume": "vol",
                           "nocopy": True}  # fmt: skip
    assert list(m.as_dict()) == list(MOUNT_FIELDS)


def test_ulimit() -> None:
    u = Ulimit("RLIMIT_NOFILE", 1024, 2048)
    assert u == Ulimit(type="RLIMIT_NOFILE", soft=1024, hard=2048) and hash(u) == hash(("RLIMIT_NOFILE", 1024, 2048))
    assert u != Ulimit("RLIMIT_NOFILE", 1024, 4096)
    assert repr(u) == "Ulimit(type='RLIMIT_NOFILE', soft=1024, hard=2048)"
    assert u.as_dict() == {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}
    assert u.replace(hard=1) == Ulimit("RLIMIT_NOFILE", 1024, 1)
    with pytest.raises(TypeError):
        u.replace(max=1)
    with pytest.raises(TypeError):
        Ulimit("RLIMIT_NOFILE", 1)  # type: ignore[call-arg]
    with pytest.raises(AttributeError, match="cannot assign to field 'soft'"):
        u.soft = 1  # type: ignore[misc]


@pytest.mark.parametrize("record", [_full_mount(), Ulimit("RLIMIT_CORE", 0, 0)])
def test_frozen_records_copy_and_pickle(record: Mount | Ulimit) -> None:
    for twin in (copy.copy(record), copy.deepcopy(record), pickle.loads(pickle.dumps(record))):
        assert twin == record and type(twin) is type(record)


def test_spec_defaults() -> None:
    s = ContainerSpec(image="x")
    assert ContainerSpec.__slots__ == tuple(SPEC_DEFAULTS)
    assert s.as_dict() == SPEC_DEFAULTS
    assert list(s.as_dict()) == list(SPEC_DEFAULTS)
    assert ContainerSpec("x") == s


def test_spec_fresh_default_lists() -> None:
    a, b = ContainerSpec("x"), ContainerSpec("x")
    for name in _LIST_FIELDS:
        assert getattr(a, name) is not getattr(b, name), name
    a.mounts.append(Mount("tmpfs", "/t"))
    a.env["A"] = "1"
    a.cap_add.append("CAP_NET_RAW")
    assert b.mounts == [] and b.env == {} and b.cap_add == [] and ContainerSpec("x").mounts == []


def test_spec_explicit_none_kept() -> None:
    """As with ``field(default_factory=list)``: only a missing argument gets a new list, a given None stays."""
    s = ContainerSpec("x", mounts=None, env=None)  # type: ignore[arg-type]
    assert s.mounts is None and s.env is None
    given: list[Mount] = []
    assert ContainerSpec("x", mounts=given).mounts is given


def test_spec_all_fields_positional_and_keyword() -> None:
    values = {name: f"v-{i}" for i, name in enumerate(SPEC_DEFAULTS)}
    by_kw, by_pos = ContainerSpec(**values), ContainerSpec(*values.values())  # type: ignore[arg-type]
    assert by_kw == by_pos
    assert by_kw.as_dict() == values
    with pytest.raises(TypeError):
        ContainerSpec()  # type: ignore[call-arg]  # image has no default
    with pytest.raises(TypeError):
        ContainerSpec("x", bogus=1)  # type: ignore[call-arg]


def test_spec_equality_and_unhashable() -> None:
    assert ContainerSpec("x", env={"A": "1"}) == ContainerSpec("x", env={"A": "1"})
    assert ContainerSpec("x", env={"A": "1"}) != ContainerSpec("x", env={"A": "2"})
    assert ContainerSpec("x") != ContainerSpec("y")
    assert ContainerSpec("x", mounts=[Mount("bind", "/d")]) == ContainerSpec("x", mounts=[Mount("bind", "/d")])
    with pytest.raises(TypeError, match="unhashable type: 'ContainerSpec'"):
        hash(ContainerSpec("x"))  # a dataclass with eq and not frozen has no __hash__


def test_spec_mutable() -> None:
    s = ContainerSpec("x")
    s.mounts = s.mounts + [Mount("tmpfs", "/t")]
    s.hostname = "h"
    assert (s.hostname, len(s.mounts)) == ("h", 1)
    with pytest.raises(AttributeError):
        s.not_a_field = 1  # type: ignore[attr-defined]


def test_spec_repr() -> None:
    text = repr(ContainerSpec("x", command=["sh"], mounts=[Mount("tmpfs", "/t")]))
    assert text.startswith("ContainerSpec(image='x', command=['sh'], entrypoint=None, env={}, workdir=None, ")
    assert ("mounts=[Mount(type='tmpfs', destination='/t', source='', options=(), chown=False, overlay=False, "
            "upperdir='', workdir='', volume='', nocopy=False)], cap_add=[]") in text  # fmt: skip
    assert text.endswith(", sdnotify='container', pod='', volumes_from=[])")
    assert text.count("=") == len(SPEC_DEFAULTS) + 10  # the Mount's fields too


def test_spec_replace() -> None:
    s = ContainerSpec("x", env={"A": "1"}, mounts=[Mount("tmpfs", "/t")], hostname="h")
    r = s.replace(user="1:2", hostname=None)
    assert (r.user, r.hostname, r.image) == ("1:2", None, "x") and (s.user, s.hostname) == (None, "h")
    assert r.env is s.env and r.mounts is s.mounts  # shared, as dataclasses.replace shares them
    assert s.replace() == s and s.replace() is not s
    with pytest.raises(TypeError):
        s.replace(bogus=1)


def test_spec_as_dict_nested() -> None:
    s = ContainerSpec("img", command=["a"], mounts=[_full_mount()], ulimits=[Ulimit("RLIMIT_NPROC", 5, 6)],
                      env={"K": "V"}, networks={"n": {"aliases": ["x"]}}, healthcheck={"Test": ["NONE"]})  # fmt: skip
    d = s.as_dict()
    assert d == {
        **SPEC_DEFAULTS, "image": "img", "command": ["a"], "env": {"K": "V"},
        "mounts": [{"type": "bind", "destination": "/data", "source": "/srv", "options": ("rw", "rbind"),
                    "chown": True, "overlay": True, "upperdir": "/up", "workdir": "/work", "volume": "vol",
                    "nocopy": True}],
        "ulimits": [{"type": "RLIMIT_NPROC", "soft": 5, "hard": 6}],
        "networks": {"n": {"aliases": ["x"]}}, "healthcheck": {"Test": ["NONE"]},
    }  # fmt: skip
    # copies, as dataclasses.asdict makes: changing the dict leaves the spec alone
    d["env"]["K2"] = "V2"
    d["networks"]["n"]["aliases"].append("y")
    d["command"].append("b")
    assert s.env == {"K": "V"} and s.networks == {"n": {"aliases": ["x"]}} and s.command == ["a"]


def test_spec_copy_and_pickle() -> None:
    s = ContainerSpec("x", mounts=[_full_mount()], env={"A": "1"})
    for twin in (copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert twin == s
    assert copy.deepcopy(s).env is not s.env


def test_spec_validate_unchanged() -> None:
    s = ContainerSpec("x", mounts=[Mount("bind", "/d", "/a"), Mount("bind", "/d", "/b")])
    from podpy.util.errors import UsageError

    with pytest.raises(UsageError, match="duplicate mount destination"):
        s.validate()
    ok = ContainerSpec("x")
    assert ok.validate() is ok


def test_no_dataclasses_import() -> None:
    code = "import sys, podpy.spec.container; print('dataclasses' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
