"""engine.networks without namespaces: configs on disk, ls filters, resolv.conf, DNS records, inspect data."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from podpy.engine import networks
from podpy.util.errors import UsageError
from podpy.util.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    (tmp_path / "root").mkdir()
    (tmp_path / "run").mkdir()
    return Paths(root=tmp_path / "root", runroot=tmp_path / "run")


def test_create_list_filter(paths: Paths) -> None:
    a = networks.create(paths, name="alpha", labels={"tier": "front"})
    networks.create(paths, name="beta", internal=True, disable_dns=True)
    assert json.loads((Path(paths.root) / "networks" / "alpha.json").read_text())["id"] == a["id"]
    assert networks.create(paths, name="alpha", ignore=True)["id"] == a["id"]  # --ignore: the existing one
    names = lambda *f: [c["name"] for c in networks.list_networks(paths, f)]  # noqa: E731
    assert names() == ["alpha", "beta", "podman"]
    assert names("name=a$") == ["alpha", "beta"]  # a regexp, as Podman
    assert names("label=tier") == names("label=tier=front") == ["alpha"]
    assert names("label!=tier") == ["beta", "podman"]
    assert names(f"id={a['id'][:8]}", "id=2f259bab") == ["alpha", "podman"]  # one key: OR
    assert names("name=a", "driver=bridge", "label=tier") == ["alpha"]  # different keys: AND
    with pytest.raises(UsageError, match='invalid filter "colour"'):
        names("colour=red")
    assert networks.exists(paths, "beta") and not networks.exists(paths, "gamma")


def test_resolv_conf_points_at_the_networks_dns(paths: Paths) -> None:
    networks.create(paths, name="a", subnet="10.90.0.0/24")
    networks.create(paths, name="b", subnet="10.90.1.0/24", disable_dns=True)
    host = "search corp.example\nnameserver 127.0.0.53\nnameserver 10.1.1.1\noptions edns0\n"
    spec = SimpleNamespace(networks={"a": {}, "b": {}}, dns=[], dns_search=[], dns_options=[])
    assert networks.resolv_conf(paths, spec, host, {}) == (
        "search dns.podman corp.example\nnameserver 10.90.0.1\noptions edns0\n")  # fmt: skip
    spec = SimpleNamespace(networks={"b": {}}, dns=["9.9.9.9"], dns_search=[], dns_options=[])
    assert networks.resolv_conf(paths, spec, host, {}) == "search corp.example\nnameserver 9.9.9.9\noptions edns0\n"
    spec.dns = []  # no DNS on the network: slirp4netns's resolver, then the host's (loopback dropped)
    assert "nameserver 10.0.2.3\nnameserver 10.1.1.1\n" in networks.resolv_conf(paths, spec, host, {})


def test_dns_records_and_inspect(paths: Paths) -> None:
    networks.create(paths, name="a", subnet="10.90.0.0/24")
    networks.create(paths, name="quiet", subnet="10.90.1.0/24", disable_dns=True)
    cid = "c" * 64
    link = {"network": "a", "gateway": "10.90.0.1", "ip": "10.90.0.2", "aliases": ["www"], "prefix": 24,
            "mac": "02:00:00:00:00:01", "network_id": "x"}  # fmt: skip
    quiet = {**link, "network": "quiet", "gateway": "10.90.1.1", "ip": "10.90.1.2", "aliases": []}
    record = {"name": "Web", "links": [link, quiet]}
    (Path(paths.runroot) / "networks").mkdir()
    networks._write_dns(paths, {cid: record})  # no responder listening: nothing to notify
    data = json.loads((Path(paths.runroot) / "networks" / "aardvark.json").read_text())
    assert data == {"upstream": ["10.0.2.3"], "networks": {"a": {
        "gateway": "10.90.0.1", "upstream": [], "names": {"web": ["10.90.0.2"], "www": ["10.90.0.2"], cid[:12]: ["10.90.0.2"]}}}}
    (Path(paths.runroot) / "networks" / "attach").mkdir()
    (Path(paths.runroot) / "networks" / "attach" / f"{cid}.json").write_text(json.dumps(record))
    rec = SimpleNamespace(id=cid, state="running", config={"spec": {"network": "bridge", "networks": {"a": {"aliases": ["www"]}}}})
    settings: dict[str, object] = {}
    networks.add_inspect(paths, rec, settings)
    assert settings["Networks"] == {"a": {
        "EndpointID": "", "Gateway": "10.90.0.1", "IPAddress": "10.90.0.2", "IPPrefixLen": 24, "IPv6Gateway": "",
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "02:00:00:00:00:01", "NetworkID": "x",
        "DriverOpts": None, "IPAMConfig": None, "Links": None, "Aliases": [cid[:12], "www"]}}  # fmt: skip
    assert settings["IPAddress"] == "10.90.0.2"
    assert networks.container_ip(paths, cid, "quiet") == "10.90.1.2"
    rec.state = "exited"
    settings = {}
    networks.add_inspect(paths, rec, settings)
    assert settings["IPAddress"] == ""  # addresses only while it runs
    networks.teardown(paths, "d" * 64)  # not attached: nothing to do (one stat)
