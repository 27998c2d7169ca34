"""The records on ``run``'s path that were dataclasses (podpy.util.record): same fields, order, defaults,
equality, repr, ``replace`` and ``as_dict`` (the dicts below are what ``dataclasses.asdict`` gave), a new
default list/dict per instance, and importing their modules does not import ``dataclasses``."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from podpy.engine.state import _COLUMNS, ContainerRecord, Event
from podpy.engine.storage_conf import StorageChoice
from podpy.monitor.spawn import MonitorConfig, MonitorHandle
from podpy.runtime.spec import HostLimits
from podpy.runtime.users import ExecUser, PasswdAdditions, _Entry
from podpy.store.rootfs import RootfsMount
from podpy.util.record import Record

TREE = Path(__file__).resolve().parents[3]

MONITOR_DEFAULTS: dict[str, Any] = {
    "container_id": "c1",
    "bundle": "/b",
    "state_dir": "/s",
    "runtime": ["runc"],
    "runtime_root": "",
    "runtime_args": [],
    "exit_file": "",
    "log_driver": "k8s-file",
    "log_path": "",
    "log_max_size": 0,
    "terminal": False,
    "stdin": False,
    "leave_stdin_open": False,
    "start": True,
    "cleanup": [],
    "sdnotify": False,
    "notify_socket": "",
    "drain_timeout": 2.0,
    "monitor_pid_file": "",
    "restart_policy": "",
    "restart_max": 0,
    "restart_count": 0,
    "restarted": [],
    "stop_marker": "",
    "health_cmd": [],
    "health_interval": 0.0,
}

MONITOR_FULL: dict[str, Any] = {
    "container_id": "c2",
    "bundle": "/b2",
    "state_dir": "/s2",
    "runtime": ["/usr/bin/crun"],
    "runtime_root": "/rr",
    "runtime_args": ["--debug"],
    "exit_file": "/e",
    "log_driver": "passthrough",
    "log_path": "/l",
    "log_max_size": 10,
    "terminal": True,
    "stdin": True,
    "leave_stdin_open": True,
    "start": False,
    "cleanup": ["cleanup", "c2"],
    "sdnotify": True,
    "notify_socket": "/n",
    "drain_timeout": 1.5,
    "monitor_pid_file": "/m",
    "restart_policy": "always",
    "restart_max": 3,
    "restart_count": 2,
    "restarted": ["restarted"],
    "stop_marker": "/stop",
    "health_cmd": ["health"],
    "health_interval": 30.0,
}

RECORD_FULL: dict[str, Any] = {
    "id": "abc",
    "name": "web",
    "image_id": "sha",
    "image_name": "docker.io/library/alpine:latest",
    "created": 5,
    "state": "running",
    "pid": 10,
    "monitor_pid": 9,
    "monitor_start": 8,
    "exit_code": 1,
    "started_at": 6,
    "finished_at": 7,
    "config": {"spec": {"command": ["sh"], "env": {"A": "1"}}, "ports": [[8080, "tcp"]]},
    "labels": {"a": "b"},
}

EVENT_FULL: dict[str, Any] = {
    "seq": 1,
    "time_ns": 2,
    "type": "container",
    "action": "start",
    "id": "abc",
    "name": "web",
    "attributes": {"image": "alpine"},
}

# (class, required arguments, the defaults' as_dict, every field given)
CASES: list[tuple[type[Record], dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (ContainerRecord, {"id": "abc", "name": "web", "created": 1},
     {"id": "abc", "name": "web", "image_id": "", "image_name": "", "created": 1, "state": "configured", "pid": 0,
      "monitor_pid": 0, "monitor_start": 0, "exit_code": None, "started_at": 0, "finished_at": 0, "config": {},
      "labels": {}},
     RECORD_FULL),
    (Event, EVENT_FULL, EVENT_FULL, EVENT_FULL),
    (MonitorConfig, {"container_id": "c1", "bundle": "/b", "state_dir": "/s"}, MONITOR_DEFAULTS, MONITOR_FULL),
    (ExecUser, {"uid": 1, "gid": 2}, {"uid": 1, "gid": 2, "additional_gids": [], "home": "/"},
     {"uid": 1000, "gid": 1000, "additional_gids": [1000, 10], "home": "/home/u"}),
    (_Entry, {"name": "u", "id": 1, "gid": 2, "home": "/h", "members": ("a",)},
     {"name": "u", "id": 1, "gid": 2, "home": "/h", "members": ("a",)},
     {"name": "wheel", "id": 10, "gid": 0, "home": "", "members": ("a", "b")}),
    (PasswdAdditions, {"user": ExecUser(1, 2)},
     {"user": {"uid": 1, "gid": 2, "additional_gids": [], "home": "/"}, "passwd": "", "group": ""},
     {"user": ExecUser(1, 1, [1], "/w"), "passwd": "u:*:1:1::/w:/bin/sh\n", "group": "u:x:1:u\n"}),
    (HostLimits, {"nofile_soft": 1, "nofile_hard": 2, "nproc_soft": 3, "nproc_hard": 4},
     {"nofile_soft": 1, "nofile_hard": 2, "nproc_soft": 3, "nproc_hard": 4, "uid_map": (), "gid_map": ()},
     {"nofile_soft": 1, "nofile_hard": 2, "nproc_soft": 3, "nproc_hard": 4, "uid_map": ((0, 1000, 1), (1, 100000, 65536)),
      "gid_map": ((0, 1000, 1),)}),
    (RootfsMount, {"path": Path("/c/merged"), "driver": "overlay", "container_dir": Path("/c")},
     {"path": Path("/c/merged"), "driver": "overlay", "container_dir": Path("/c")},
     {"path": Path("/d/merged"), "driver": "vfs", "container_dir": Path("/d")}),
    (StorageChoice, {"name": "overlay", "driver": None, "mount_program": None, "config_file": Path("/u.conf"),
                     "source": "default"},
     {"name": "overlay", "driver": None, "mount_program": None, "config_file": Path("/u.conf"), "source": "default"},
     {"name": "vfs", "driver": "vfs", "mount_program": "/usr/bin/fuse-overlayfs", "config_file": Path("/s.conf"),
      "source": "flag"}),
]  # fmt: skip
IDS = [c[0].__name__ for c in CASES]

FIELDS = {
    ContainerRecord: ("id", "name", "image_id", "image_name", "created", "state", "pid", "monitor_pid",
                      "monitor_start", "exit_code", "started_at", "finished_at", "config", "labels"),
    Event: ("seq", "time_ns", "type", "action", "id", "name", "attributes"),
    MonitorConfig: tuple(MONITOR_DEFAULTS),
    MonitorHandle: ("pid", "monitor_pid", "monitor_start", "config"),
    ExecUser: ("uid", "gid", "additional_gids", "home"),
    _Entry: ("name", "id", "gid", "home", "members"),
    PasswdAdditions: ("user", "passwd", "group"),
    HostLimits: ("nofile_soft", "nofile_hard", "nproc_soft", "nproc_hard", "uid_map", "gid_map"),
    RootfsMount: ("path", "driver", "container_dir"),
    StorageChoice: ("name", "driver", "mount_program", "config_file", "source"),
}  # fmt: skip

FROZEN = (ExecUser, _Entry, PasswdAdditions, HostLimits, RootfsMount, StorageChoice)  # were frozen dataclasses


@pytest.mark.parametrize("cls", list(FIELDS), ids=[c.__name__ for c in FIELDS])
def test_fields_in_order_and_no_instance_dict(cls: type[Record]) -> None:
    assert cls.__slots__ == FIELDS[cls]
    assert cls.__match_args__ == FIELDS[cls]  # type: ignore[attr-defined]
    assert issubclass(cls, Record)
    assert "__dict__" not in dir(cls)


@pytest.mark.parametrize(("cls", "required", "defaults", "full"), CASES, ids=IDS)
def test_defaults_and_all_fields(cls: type[Record], required: dict[str, Any], defaults: dict[str, Any],
                                 full: dict[str, Any]) -> None:  # fmt: skip
    d = cls(**required)
    assert d.as_dict() == defaults
    assert {n: getattr(d, n) for n in cls.__slots__} == {**defaults, **required}
    f = cls(**full)
    assert {n: getattr(f, n) for n in cls.__slots__} == full
    assert cls(*full.values()) == f  # positionally, in field order


@pytest.mark.parametrize(("cls", "required", "defaults", "full"), CASES, ids=IDS)
def test_equality(cls: type[Record], required: dict[str, Any], defaults: dict[str, Any],
                  full: dict[str, Any]) -> None:  # fmt: skip
    assert cls(**full) == cls(**full)
    assert cls(**required) == cls(**required)
    if required != full:
        assert cls(**full) != cls(**required)
    first = cls.__slots__[0]
    assert cls(**full) != cls(**{**full, first: defaults[first] if full[first] != defaults[first] else "other"})
    assert cls(**full) != tuple(full.values())  # another class: never equal (NotImplemented)
    assert cls(**full).__eq__(object()) is NotImplemented


@pytest.mark.parametrize(("cls", "required", "defaults", "full"), CASES, ids=IDS)
def test_repr_as_a_dataclass(cls: type[Record], required: dict[str, Any], defaults: dict[str, Any],
                             full: dict[str, Any]) -> None:  # fmt: skip
    inner = ", ".join(f"{k}={v!r}" for k, v in full.items())
    assert repr(cls(**full)) == f"{cls.__qualname__}({inner})"


def test_repr_examples() -> None:
    assert repr(ExecUser(0, 0)) == "ExecUser(uid=0, gid=0, additional_gids=[], home='/')"
    assert repr(HostLimits(1, 2, 3, 4)) == "HostLimits(nofile_soft=1, nofile_hard=2, nproc_soft=3, nproc_hard=4, uid_map=(), gid_map=())"  # fmt: skip
    assert repr(RootfsMount(Path("/m"), "vfs", Path("/c"))) == (
        "RootfsMount(path=PosixPath('/m'), driver='vfs', container_dir=PosixPath('/c'))"
    )


@pytest.mark.parametrize(("cls", "required", "defaults", "full"), CASES, ids=IDS)
def test_replace(cls: type[Record], required: dict[str, Any], defaults: dict[str, Any],
                 full: dict[str, Any]) -> None:  # fmt: skip
    f = cls(**full)
    name = cls.__slots__[-1]
    r = f.replace(**{name: required.get(name, defaults[name])})
    assert r is not f and type(r) is cls
    assert getattr(r, name) == required.get(name, defaults[name])
    assert all(getattr(r, n) is getattr(f, n) for n in cls.__slots__[:-1])  # the others as they were
    assert f.as_dict() == cls(**full).as_dict()  # the original unchanged
    assert f.replace() == f
    with pytest.raises(TypeError, match="no field 'nope'"):
        f.replace(nope=1)


@pytest.mark.parametrize(("cls", "required", "defaults", "full"), CASES, ids=IDS)
def test_as_dict_copies_containers(cls: type[Record], required: dict[str, Any], defaults: dict[str, Any],
                                   full: dict[str, Any]) -> None:  # fmt: skip
    f = cls(**full)
    d = f.as_dict()
    assert list(d) == list(cls.__slots__)
    for n in cls.__slots__:
        v = getattr(f, n)
        if isinstance(v, list | dict):
            assert d[n] == v and d[n] is not v  # as dataclasses.asdict: a copy, not the field's own object


def test_as_dict_of_nested_records() -> None:
    user = ExecUser(1, 1, [1, 5], "/w")
    assert PasswdAdditions(user, "p\n", "g\n").as_dict() == {
        "user": {"uid": 1, "gid": 1, "additional_gids": [1, 5], "home": "/w"}, "passwd": "p\n", "group": "g\n"}  # fmt: skip
    cfg = MonitorConfig(**MONITOR_FULL)
    h = MonitorHandle(12, 11, 99, cfg)
    assert h.as_dict() == {"pid": 12, "monitor_pid": 11, "monitor_start": 99, "config": MONITOR_FULL}
    assert h == MonitorHandle(pid=12, monitor_pid=11, monitor_start=99, config=MonitorConfig(**MONITOR_FULL))
    assert h != h.replace(config=cfg.replace(start=True))
    assert repr(h) == f"MonitorHandle(pid=12, monitor_pid=11, monitor_start=99, config={cfg!r})"


def test_fresh_default_containers_per_instance() -> None:
    a, b = ContainerRecord("a", "a"), ContainerRecord("b", "b")
    assert a.config == {} and a.labels == {} and a.config is not b.config and a.labels is not b.labels
    m1, m2 = MonitorConfig("c", "/b", "/s"), MonitorConfig("c", "/b", "/s")
    for n in ("runtime", "runtime_args", "cleanup", "restarted", "health_cmd"):
        assert getattr(m1, n) is not getattr(m2, n), n
    m1.runtime.append("--x")
    assert m2.runtime == ["runc"] and MonitorConfig("c", "/b", "/s").runtime == ["runc"]
    assert ExecUser(0, 0).additional_gids is not ExecUser(0, 0).additional_gids


def test_explicit_none_kept_as_given() -> None:
    """As with ``default_factory``: only a missing argument gets the new default."""
    assert ContainerRecord("a", "a", config=None).config is None  # type: ignore[arg-type]
    assert MonitorConfig("c", "/b", "/s", runtime=None).runtime is None  # type: ignore[arg-type]
    assert ExecUser(0, 0, None).additional_gids is None  # type: ignore[arg-type]


def test_container_record_created_is_now_by_default() -> None:
    before = time.time_ns()
    rec = ContainerRecord("a", "b")
    assert before <= rec.created <= time.time_ns()
    assert rec.replace(state="running").created == rec.created
    assert rec.to_dict() == rec.as_dict()
    assert rec.to_dict()["config"] is not rec.config


def test_state_columns_are_the_record_fields() -> None:
    assert FIELDS[ContainerRecord] == _COLUMNS


def test_mutable_records_are_unhashable_frozen_ones_hash() -> None:
    """As the dataclasses were: eq without frozen is unhashable; frozen hashes its fields (or fails on a list)."""
    for rec in (ContainerRecord("a", "b"), Event(**EVENT_FULL), MonitorConfig("c", "/b", "/s"),
                MonitorHandle(1, 2, 3, MonitorConfig("c", "/b", "/s"))):  # fmt: skip
        with pytest.raises(TypeError, match="unhashable"):
            hash(rec)
    assert hash(HostLimits(1, 2, 3, 4)) == hash(HostLimits(1, 2, 3, 4))
    assert len({RootfsMount(Path("/m"), "vfs", Path("/c")), RootfsMount(Path("/m"), "vfs", Path("/c"))}) == 1
    assert hash(_Entry("u", 1, 1, "/", ())) == hash(_Entry("u", 1, 1, "/", ()))
    assert hash(StorageChoice("overlay", None, None, Path("/c"), "default")) is not None
    with pytest.raises(TypeError):
        hash(ExecUser(0, 0))  # a list field, as the frozen dataclass


def test_records_keep_their_methods() -> None:
    cfg = MonitorConfig("c1", "rel/bundle", "rel/state", runtime=("crun",))  # type: ignore[arg-type]
    r = cfg.resolved()
    sd = os.path.abspath("rel/state")
    assert r.state_dir == sd and r.bundle == os.path.abspath("rel/bundle")
    assert r.exit_file == os.path.join(sd, "exit") and r.log_path == os.path.join(sd, "ctr.log")
    assert r.monitor_pid_file == os.path.join(sd, "monitor.pid")
    assert r.stop_marker == os.path.join(sd, "stopped-by-user")
    assert r.runtime == ["crun"] and isinstance(r.runtime, list)
    assert r.attach_path == os.path.join(sd, "attach") and r.ctl_path == os.path.join(sd, "ctl")
    assert cfg.state_dir == "rel/state"  # resolved() made a new one
    h = MonitorHandle(1, 2, 0, r)
    assert h.attach_path == r.attach_path and h.exit_file == r.exit_file
    assert isinstance(HostLimits.current(), HostLimits)


def test_monitor_config_marshals_and_round_trips() -> None:
    """The monitor gets ``as_dict()`` marshalled (and monitor.json as JSON): plain data, same dict."""
    cfg = MonitorConfig(**MONITOR_FULL).resolved()
    d = cfg.as_dict()
    assert marshal.loads(marshal.dumps(d)) == d
    assert MonitorConfig(**json.loads(json.dumps(d))) == cfg
    assert type(d) is dict and all(type(d[k]) is list for k in ("runtime", "runtime_args", "cleanup"))


def test_match_positional_as_a_dataclass() -> None:
    match ExecUser(5, 6, [6], "/h"):
        case ExecUser(uid, gid, extra, home):
            assert (uid, gid, extra, home) == (5, 6, [6], "/h")
        case _:
            pytest.fail("no match")


def test_frozen_records_refuse_changes() -> None:
    """As the frozen dataclasses did: a field is set once, by ``__init__``; copies still work."""
    import copy
    import pickle

    from podpy.util.record import FrozenRecord

    assert all(issubclass(c, FrozenRecord) for c in FROZEN)
    user = ExecUser(1000, 1000, [1000], "/")
    with pytest.raises(AttributeError, match="cannot assign to field 'uid'"):
        user.uid = 0  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot delete field 'home'"):
        del user.home  # type: ignore[misc]
    assert copy.deepcopy(user) == user == pickle.loads(pickle.dumps(user))
    assert user.replace(uid=1) == ExecUser(1, 1000, [1000], "/")


def test_frozen_records_are_not_mutated_by_the_code() -> None:
    """The functions build new records instead."""
    from podpy.runtime.users import keep_id_additions

    user = ExecUser(1000, 1000, [1000], "/")
    add = keep_id_additions("/nonexistent-rootfs", user, uid=1000, gid=1000, host_user=None, workdir="/w",
                            mount_dests=[])  # fmt: skip
    assert user == ExecUser(1000, 1000, [1000], "/")
    assert add.user == ExecUser(1000, 1000, [1000], "/w") and add.user.additional_gids is not user.additional_gids


def _imported(modules: list[str]) -> dict[str, bool]:
    prog = (
        f"import sys, json; sys.path.insert(0, {str(TREE)!r})\n"
        f"import {', '.join(modules)}\n"
        "print(json.dumps({m: m in sys.modules for m in ('dataclasses', 'podpy.spec.container')}))"
    )
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_importing_the_modules_does_not_import_dataclasses() -> None:
    mods = ["podpy.engine.state", "podpy.monitor.spawn", "podpy.runtime.users", "podpy.store.rootfs",
            "podpy.engine.storage_conf"]  # fmt: skip
    assert _imported(mods) == {"dataclasses": False, "podpy.spec.container": False}
    # podpy.runtime.spec imports podpy.spec.container (ContainerSpec, Mount): a record too
    assert _imported([*mods, "podpy.runtime.spec"]) == {"dataclasses": False, "podpy.spec.container": True}
