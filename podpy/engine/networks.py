"""User-defined networks: their configs (``network create/ls/inspect/rm/prune/exists``) and containers on them.

A container with ``network="bridge"`` joins each network of its ``networks`` at start (``setup``):

- the shared rootless network namespace is started when the first such container starts: its holder
  process (also the DNS responder) and slirp4netns (``podpy.network.rootlessns``);
- the container gets its own namespace (``RUNROOT/netns/netns-ID``, as every podpy container) and a
  veth pair per network into that network's bridge (``podpy.network.bridge``), an address from the
  network's range (or ``--ip``), its MAC (or ``--mac-address``);
- iptables in the shared namespace masquerades each network that is not ``--internal`` (internal ones
  are cut off from the outside), and DNATs each published port, which slirp4netns forwards from the host;
- the DNS records (name, aliases, short ID per network) are rewritten for the responder.

``teardown`` undoes it; the last container to leave stops slirp4netns and the holder, so nothing of
the namespace remains. Run-time state lives in ``RUNROOT/networks`` (``attach/ID.json`` per
container, ``rootless-netns.json``, the DNS records), under one lock.

``attach(paths, rec, ports)`` is the entry point other code (pods) uses to put a namespace on networks.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from podpy.network import netconf
from podpy.util.errors import PodpyError, UsageError
from podpy.util.fsutil import atomic_write
from podpy.util.lock import FileLock
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

DNS_SUFFIX = "dns.podman"


def run_dir(paths: Paths) -> Path:
    return Path(paths.runroot) / "networks"


def _records(paths: Paths) -> str:
    return str(run_dir(paths) / "aardvark.json")


def _attach_path(paths: Paths, cid: str) -> Path:
    return run_dir(paths) / "attach" / f"{cid}.json"


def _read_json(path: Path | str) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --- configs -------------------------------------------------------------------------------------


def all_networks(paths: Paths) -> list[dict[str, Any]]:
    return netconf.load_all(paths.root)


def get(paths: Paths, ref: str) -> dict[str, Any]:
    return netconf.lookup(all_networks(paths), ref)


def exists(paths: Paths, ref: str) -> bool:
    try:
        get(paths, ref)
    except PodpyError:
        return False
    return True


def _conf_lock(paths: Paths) -> FileLock:
    d = netconf.config_dir(paths.root)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return FileLock(d / ".lock")


def create(paths: Paths, *, ignore: bool = False, **kw: Any) -> dict[str, Any]:
    """A new network (``kw``: ``netconf.build``'s options); ``ignore``: an existing one of that name is returned."""
    with _conf_lock(paths):
        configs = all_networks(paths)
        if ignore and kw.get("name") and any(c["name"] == kw["name"] for c in configs):
            return netconf.lookup(configs, kw["name"])
        cfg = netconf.build(configs, host=netconf.host_routes(), **kw)
        netconf.save(paths.root, cfg)
    return cfg


def _match_filter(cfg: dict[str, Any], key: str, value: str) -> bool:
    import re

    if key == "name":
        return re.search(value, cfg["name"]) is not None
    if key == "id":
        return cfg["id"].startswith(value)
    if key == "driver":
        return cfg["driver"] == value
    if key in ("label", "label!"):
        k, eq, v = value.partition("=")
        labels = cfg.get("labels") or {}
        hit = k in labels and (not eq or labels[k] == v)
        return hit if key == "label" else not hit
    raise UsageError(f'invalid filter "{key}"')


def list_networks(paths: Paths, filters: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """By name, filtered as Podman does: values of one key OR-ed, different keys AND-ed."""
    by_key: dict[str, list[str]] = {}
    for f in filters:
        key, eq, value = f.partition("=")
        if not eq:
            raise UsageError(f"invalid filter {f!r}: use KEY=VALUE (name, id, driver, label, label!)")
        if key not in ("name", "id", "driver", "label", "label!"):
            raise UsageError(f'invalid filter "{key}"')
        by_key.setdefault(key, []).append(value)
    out = [c for c in all_networks(paths)
           if all(any(_match_filter(c, k, v) for v in vs) for k, vs in by_key.items())]  # fmt: skip
    return sorted(out, key=lambda c: c["name"])


def container_networks(rec: Any) -> dict[str, dict[str, Any]]:
    """NAME -> options of a container record (empty when it is not on user-defined networks)."""
    spec = rec.config.get("spec") or {}
    if spec.get("network") != "bridge":
        return {}
    return dict(spec.get("networks") or {netconf.DEFAULT_NAME: {}})


def users(paths: Paths, name: str) -> list[Any]:
    """The containers (records) configured to use network ``name``."""
    from podpy.engine import containers

    return [r for r in containers.open_state(paths).list() if name in container_networks(r)]


def remove(paths: Paths, refs: list[str], *, force: bool = False, timeout: float | None = None) -> list[str]:
    """``network rm``: in use -> Podman's error naming the containers; ``force`` removes them first."""
    from podpy.engine import containers

    out = []
    for ref in refs:
        cfg = get(paths, ref)
        if cfg["name"] == netconf.DEFAULT_NAME:
            raise PodpyError(f"default network {cfg['name']} cannot be removed")
        used = users(paths, cfg["name"])
        if used and not force:
            names = ", ".join(r.name for r in used)
            raise PodpyError(f'"{cfg["name"]}" has associated containers with it. Use -f to forcibly delete '
                             f"containers and pods: network is being used (by container {names})", exit_code=2)  # fmt: skip
        from podpy.engine import pods

        remove = pods.with_pods(containers.remove)  # an infra container goes with its pod, as in podman
        for r in used:
            with contextlib.suppress(PodpyError):
                remove(paths, r.id, force=True, timeout=timeout)
        with _conf_lock(paths):
            netconf.delete(paths.root, cfg["name"])
        out.append(cfg["name"])
    return out


def prune(paths: Paths, filters: list[str] | tuple[str, ...] = ()) -> list[str]:
    """``network prune``: every user-defined network no container uses (the default one stays)."""
    from podpy.engine import containers

    used = {n for r in containers.open_state(paths).list() for n in container_networks(r)}
    gone = []
    for cfg in list_networks(paths, filters):
        if cfg["name"] != netconf.DEFAULT_NAME and cfg["name"] not in used:
            with _conf_lock(paths):
                netconf.delete(paths.root, cfg["name"])
            gone.append(cfg["name"])
    return gone


# --- containers: create time ----------------------------------------------------------------------


def prepare(paths: Paths, spec: Any) -> dict[str, dict[str, Any]]:
    """The spec's networks, checked (they exist, ``--ip`` fits, ports are IPv4) and keyed by full name."""
    from podpy.network.options import parse_network

    nets = dict(spec.networks or getattr(parse_network(spec.network), "networks", {}) or {netconf.DEFAULT_NAME: {}})
    configs = all_networks(paths)
    out: dict[str, dict[str, Any]] = {}
    for ref, opts in nets.items():
        cfg = netconf.lookup(configs, ref)
        if opts.get("ip"):
            netconf.check_static_ip(cfg, opts["ip"], set())
        out[cfg["name"]] = dict(opts)
    if any(":" in str(p.get("host_ip") or "") for p in spec.ports):
        raise UsageError("user-defined networks publish ports through slirp4netns: IPv6 host addresses are not supported")
    return out


def resolv_conf(paths: Paths, spec: Any, host_resolv: str, cconf: dict[str, Any]) -> str:
    """resolv.conf pointing at the DNS responder of each network with DNS (search ``dns.podman``); without
    one, the ``--dns`` servers or slirp4netns's resolver and the host's (as the other modes)."""
    from podpy.network import etc

    configs = all_networks(paths)
    dns = [netconf.gateway(c) for n in spec.networks for c in configs if c["name"] == n and c.get("dns_enabled")]
    servers = [*(cconf.get("dns_servers") or []), *spec.dns]
    searches = [*(cconf.get("dns_searches") or []), *spec.dns_search] or etc._values(host_resolv, "search")
    return etc.resolv_conf(
        host_resolv, nameservers=[*dns, *servers] if dns else servers, searches=[DNS_SUFFIX, *searches] if dns else searches,
        options=[*(cconf.get("dns_options") or []), *spec.dns_options], first=["10.0.2.3"],
    )  # fmt: skip


# --- containers: start and stop -------------------------------------------------------------------


def _lock(paths: Paths) -> FileLock:
    d = run_dir(paths)
    (d / "attach").mkdir(parents=True, exist_ok=True, mode=0o700)
    return FileLock(d / "lock")


def _attachments(paths: Paths) -> dict[str, dict[str, Any]]:
    d = run_dir(paths) / "attach"
    out = {}
    with contextlib.suppress(FileNotFoundError):
        for fn in os.listdir(d):
            if fn.endswith(".json"):
                a = _read_json(d / fn)
                if a:
                    out[fn[:-5]] = a
    return out


def _write_dns(paths: Paths, attachments: dict[str, dict[str, Any]]) -> None:
    from podpy.network.dnsserver import notify, write_records
    from podpy.network.rootlessns import SLIRP_DNS, ctl_path

    configs = {c["name"]: c for c in all_networks(paths)}
    nets: dict[str, dict[str, Any]] = {}
    for cid, a in attachments.items():
        for link in a.get("links") or []:
            cfg = configs.get(link["network"])
            if cfg is None or not cfg.get("dns_enabled"):
                continue
            n = nets.setdefault(link["network"], {"gateway": link["gateway"], "names": {},
                                                  "upstream": list(cfg.get("network_dns_servers") or [])})  # fmt: skip
            for name in {a.get("name") or "", cid[:12], *link.get("aliases", [])}:
                if name:
                    n["names"].setdefault(name.lower(), []).append(link["ip"])
    write_records(_records(paths), [SLIRP_DNS], nets)
    notify(ctl_path(_records(paths)))  # the responder has the new names before the container starts


def _ensure_rootless_ns(paths: Paths, state: dict[str, Any]) -> dict[str, Any]:
    """The holder and slirp4netns running (started when they are not); the state to record."""
    from podpy.network import helper, rootlessns, slirp

    rec = _records(paths)
    if rootlessns.holder_alive(int(state.get("holder") or 0), rec) and helper.serves(
        int(state.get("slirp") or 0), rootlessns.ns_path(int(state["holder"]))
    ):
        return state
    _stop_rootless_ns(paths, state)
    binary = helper.find("slirp4netns")
    helper.check_tun()
    rootlessns.iptables_binary()
    d = run_dir(paths)
    _write_dns(paths, {})
    holder = rootlessns.start_holder(rec, str(d / "holder.log"))
    state = {"holder": holder, "slirp": 0, "bridges": {}}
    atomic_write(d / "rootless-netns.json", json.dumps(state), fsync=False)
    try:
        state["slirp"] = slirp.start(binary, {}, rootlessns.ns_path(holder), str(d / "slirp.sock"), str(d / "slirp.log"))
    except BaseException:
        _stop_rootless_ns(paths, state)
        raise
    atomic_write(d / "rootless-netns.json", json.dumps(state), fsync=False)
    return state


def _stop_rootless_ns(paths: Paths, state: dict[str, Any]) -> None:
    from podpy.network import helper, rootlessns

    d = run_dir(paths)
    holder = int(state.get("holder") or 0)
    if holder > 0:
        helper.stop(int(state.get("slirp") or 0), rootlessns.ns_path(holder))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_records(paths))  # the holder's lease: it exits within a second by itself
    helper.stop(holder, _records(paths))
    for f in ("rootless-netns.json", "slirp.sock", "aardvark.json.sock", "holder.log", "slirp.log"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(d / f)


def _bridge_rules(cfg: dict[str, Any], op: str) -> dict[str, list[str]]:
    """Masquerade out through tap0, or (``--internal``) drop whatever would leave the bridge."""
    br, subnet = cfg["network_interface"], cfg["subnets"][0]["subnet"]
    if cfg.get("internal"):
        return {"filter": [f"{op} FORWARD -i {br} ! -o {br} -j DROP", f"{op} FORWARD -o {br} ! -i {br} -j DROP"]}
    return {"nat": [f"{op} POSTROUTING -s {subnet} ! -d {subnet} -j MASQUERADE"]}


def _port_rules(ports: list[dict[str, Any]], ip: str, op: str) -> list[str]:
    from podpy.network.rootlessns import TAP_IP

    return [f"{op} PREROUTING -p {p['protocol']} -d {TAP_IP} --dport {p['host_port']} "
            f"-j DNAT --to-destination {ip}:{p['container_port']}" for p in ports]  # fmt: skip


def _merge(*rules: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in rules:
        for t, rs in r.items():
            out.setdefault(t, []).extend(rs)
    return out


def setup(paths: Paths, rec: Any, ports: list[dict[str, Any]]) -> None:
    """Start hook (``engine.network``): the container's namespace, then ``attach``."""
    from podpy.engine import network
    from podpy.network import netns

    network.teardown(paths, rec.id)  # leftovers of a start that was killed half-way
    network._check_ports_free(ports)
    ns = network.netns_path(paths, rec.id)
    netns.create(ns)
    atomic_write(network._record_path(paths, rec.id), json.dumps({"kind": "bridge", "netns": ns, "pid": -1}), fsync=False)
    attach(paths, rec, ports, ns)


def attach(paths: Paths, rec: Any, ports: list[dict[str, Any]], ns: str,
           networks: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """Put the network namespace ``ns`` of container ``rec`` on its networks (or ``networks``): returns
    the attachment record (links with addresses). Undo with ``teardown(paths, rec.id)``."""

    nets = networks if networks is not None else container_networks(rec)
    configs = {n: get(paths, n) for n in nets}
    if ports and all(c.get("internal") for c in configs.values()):
        raise PodpyError("cannot publish ports of a container only on --internal networks: they have no way in or out")
    with _lock(paths):
        d = run_dir(paths)
        old = _read_json(d / "rootless-netns.json")
        state = _ensure_rootless_ns(paths, old)
        others = _attachments(paths)
        others.pop(rec.id, None)
        try:
            record = _attach_locked(paths, rec, ports, ns, nets, configs, state, old, others)
        except BaseException:
            if not others and not _attach_path(paths, rec.id).exists():
                _stop_rootless_ns(paths, state)  # nobody else uses it and teardown would not know of it
            raise
    _add_own_host(paths, rec, record["links"])
    return record


def _attach_locked(paths: Paths, rec: Any, ports: list[dict[str, Any]], ns: str, nets: dict[str, dict[str, Any]],
                   configs: dict[str, dict[str, Any]], state: dict[str, Any], old: dict[str, Any],
                   others: dict[str, dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    from podpy.network import bridge, rootlessns

    d = run_dir(paths)
    rns = rootlessns.ns_path(int(state["holder"]))
    if state.get("holder") != old.get("holder") and others:
        _restore(paths, state, others)
    used: dict[str, dict[str, str]] = {}  # network -> address -> container ID
    for cid, a in others.items():
        for ln in a.get("links") or []:
            used.setdefault(ln["network"], {})[ln["ip"]] = cid
    links, routed = [], False
    for i, (name, opts) in enumerate(nets.items()):
        cfg = configs[name]
        taken = used.get(name, {})
        if opts.get("ip"):
            ip = netconf.check_static_ip(cfg, opts["ip"], taken)
        else:
            ip = netconf.allocate_ip(cfg, taken)
        default_route = not cfg.get("internal") and not routed
        routed = routed or default_route
        links.append({"network": name, "bridge": cfg["network_interface"], "gateway": netconf.gateway(cfg),
                      "prefix": netconf.prefixlen(cfg), "veth": f"veth{rec.id[:8]}{i}", "ifname": f"eth{i}",
                      "ip": ip, "mac": opts.get("mac") or netconf.random_mac(), "default_route": default_route,
                      "aliases": list(opts.get("aliases") or []), "network_id": cfg["id"]})  # fmt: skip
    target = next((ln["ip"] for ln in links if ln["default_route"]), "")
    record = {"name": rec.name, "netns": ns, "links": links, "ports": ports if target else [], "hostfwd": [],
              "target": target, "holder": state["holder"]}  # fmt: skip
    atomic_write(_attach_path(paths, rec.id), json.dumps(record), fsync=False)
    new = {ln["network"]: configs[ln["network"]] for ln in links if ln["network"] not in state["bridges"]}
    bridge.attach(rns, ns, links, rootlessns.ctl_path(_records(paths)))
    rootlessns.iptables(rns, _merge(*(_bridge_rules(c, "-A") for c in new.values()),
                                    {"nat": _port_rules(ports, target, "-A")}))  # fmt: skip
    state["bridges"].update(new)  # recorded once their rules are in: teardown deletes exactly those
    atomic_write(d / "rootless-netns.json", json.dumps(state), fsync=False)
    for p in ports:
        record["hostfwd"].append(_forward(paths, p))
        atomic_write(_attach_path(paths, rec.id), json.dumps(record), fsync=False)
    _write_dns(paths, {**others, rec.id: record})
    return record


def _forward(paths: Paths, p: dict[str, Any]) -> Any:
    """slirp4netns forwards host port -> the namespace's tap0, same port (DNAT takes it on); the rule's id."""
    from podpy.network import rootlessns, slirp

    reply = slirp.api(str(run_dir(paths) / "slirp.sock"), {"execute": "add_hostfwd", "arguments": {
        "proto": p["protocol"], "host_addr": p.get("host_ip") or "0.0.0.0", "host_port": p["host_port"],
        "guest_addr": rootlessns.TAP_IP, "guest_port": p["host_port"]}})  # fmt: skip
    if "error" in reply:
        err = reply["error"]
        raise PodpyError(f"from slirp4netns while setting up port redirection: {err.get('desc') if isinstance(err, dict) else err}")
    return (reply.get("return") or {}).get("id")


def _restore(paths: Paths, state: dict[str, Any], attachments: dict[str, dict[str, Any]]) -> None:
    """The rootless namespace was restarted (its holder had died) while containers were attached:
    give each one whose namespace still exists its links and port forwards again, in the new one."""
    from podpy.network import bridge, rootlessns

    rns = rootlessns.ns_path(int(state["holder"]))
    configs = {c["name"]: c for c in all_networks(paths)}
    for cid, a in attachments.items():
        links = [ln for ln in a.get("links") or [] if ln["network"] in configs]
        try:
            if not os.path.exists(a.get("netns") or "") or not links:
                raise PodpyError("gone")
            rules = [_bridge_rules(configs[ln["network"]], "-A") for ln in links if ln["network"] not in state["bridges"]]
            for ln in links:
                state["bridges"].setdefault(ln["network"], configs[ln["network"]])
            bridge.attach(rns, a["netns"], links)
            rootlessns.iptables(rns, _merge(*rules, {"nat": _port_rules(a.get("ports") or [], a.get("target") or "", "-A")}))
            a["hostfwd"] = []
            for p in a.get("ports") or []:
                a["hostfwd"].append(_forward(paths, p))
            atomic_write(_attach_path(paths, cid), json.dumps(a), fsync=False)
        except PodpyError:
            continue  # its teardown still runs when the container goes
    atomic_write(run_dir(paths) / "rootless-netns.json", json.dumps(state), fsync=False)


def _add_own_host(paths: Paths, rec: Any, links: list[dict[str, Any]]) -> None:
    """/etc/hosts gets the container's address on its first network (as Podman writes it at start)."""
    from podpy.engine import containers

    path = containers.container_dir(paths, rec.id) / "userdata" / "hosts"
    spec = rec.config.get("spec") or {}
    if not links or not path.exists():
        return
    names = " ".join(n for n in (spec.get("hostname") or rec.id[:12], rec.name) if n)
    lines = [ln for ln in path.read_text().splitlines(keepends=True) if not ln.rstrip("\n").endswith(f"\t{names}")]
    lines.append(f"{links[0]['ip']}\t{names}\n")
    with open(path, "w") as f:  # in place: a running container's bind mount keeps the inode
        f.write("".join(lines))


def teardown(paths: Paths, cid: str) -> None:
    """Leave the networks: port forwards, iptables rules, DNS records, bridges nobody uses any more (the
    veths go with the container's namespace, which the caller removes next); the last one out stops the
    rootless namespace. One stat when the container is on no network."""
    apath = _attach_path(paths, cid)
    if not apath.exists():
        return
    from podpy.network import bridge, rootlessns, slirp
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)
    with _lock(paths):
        d = run_dir(paths)
        record = _read_json(apath)
        state = _read_json(d / "rootless-netns.json")
        others = _attachments(paths)
        others.pop(cid, None)
        holder = int(state.get("holder") or 0)
        alive = rootlessns.holder_alive(holder, _records(paths))
        if others and alive:
            rns = rootlessns.ns_path(holder)
            for fid in record.get("hostfwd") or []:
                with contextlib.suppress(PodpyError):
                    slirp.api(str(d / "slirp.sock"), {"execute": "remove_hostfwd", "arguments": {"id": fid}})
            still = {ln["network"] for a in others.values() for ln in a.get("links") or []}
            gone = [n for n in {ln["network"] for ln in record.get("links") or []} if n not in still]
            cfgs = [state.get("bridges", {}).pop(n) for n in gone if n in state.get("bridges", {})]
            rules = _merge(*(_bridge_rules(c, "-D") for c in cfgs),
                           {"nat": _port_rules(record.get("ports") or [], record.get("target") or "", "-D")})  # fmt: skip
            with contextlib.suppress(PodpyError):
                rootlessns.iptables(rns, rules)
            if cfgs:  # the veths go with the container's namespace; a bridge nobody uses is deleted here
                with contextlib.suppress(PodpyError):
                    bridge.detach(rns, [ln["veth"] for ln in record.get("links") or []],
                                  [c["network_interface"] for c in cfgs])  # fmt: skip
            atomic_write(d / "rootless-netns.json", json.dumps(state), fsync=False)
            _write_dns(paths, others)
        os.unlink(apath)
        if not others:
            _stop_rootless_ns(paths, state)


# --- what inspect shows ---------------------------------------------------------------------------


def add_inspect(paths: Paths, rec: Any, settings: dict[str, Any]) -> None:
    """NetworkSettings.Networks; with one network its address is also the top-level one (as Podman)."""
    nets = inspect_networks(paths, rec)
    settings["Networks"] = nets
    if len(nets) == 1:
        only = next(iter(nets.values()))
        for k in ("Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
            settings[k] = only[k]


def inspect_networks(paths: Paths, rec: Any) -> dict[str, Any]:
    """NetworkSettings.Networks as Podman 4.3 shows it; addresses while the container runs."""
    running = rec.state in ("running", "paused", "stopping")
    links = {ln["network"]: ln for ln in (_read_json(_attach_path(paths, rec.id)).get("links") or [])} if running else {}
    out = {}
    for name, opts in container_networks(rec).items():
        ln = links.get(name) or {}
        cfg_id = ln.get("network_id") or ""
        out[name] = {"EndpointID": "", "Gateway": ln.get("gateway", ""), "IPAddress": ln.get("ip", ""),
                     "IPPrefixLen": ln.get("prefix", 0), "IPv6Gateway": "", "GlobalIPv6Address": "",
                     "GlobalIPv6PrefixLen": 0, "MacAddress": ln.get("mac", ""), "NetworkID": cfg_id or name,
                     "DriverOpts": None, "IPAMConfig": None, "Links": None,
                     "Aliases": [rec.id[:12], *(opts.get("aliases") or [])]}  # fmt: skip
    return out


def container_ip(paths: Paths, cid: str, network: str = "") -> str:
    """The address of a running container on ``network`` (default: its first); "" when none."""
    for ln in _read_json(_attach_path(paths, cid)).get("links") or []:
        if not network or ln["network"] == network:
            return str(ln["ip"])
    return ""


# --- connect and disconnect -------------------------------------------------------------------------


def _bridge_container(paths: Paths, ref: str) -> tuple[Any, Any]:
    from podpy.engine import containers

    st = containers.open_state(paths)
    rec = containers.get(st, paths, ref)
    mode = (rec.config.get("spec") or {}).get("network") or "private"
    if mode != "bridge":
        raise PodpyError(f'"{mode}" is not supported: invalid network mode: only containers on bridge networks '
                         "can be connected (create it with --network NAME)")  # fmt: skip
    return st, rec


def _set_networks(st: Any, rec: Any, nets: dict[str, dict[str, Any]]) -> None:
    config = json.loads(json.dumps(rec.config))
    config["spec"]["networks"] = nets
    st.update(rec.id, config=config)


def connect(paths: Paths, name: str, ref: str, *, aliases: list[str] | None = None, ip: str | None = None,
            mac: str | None = None) -> None:  # fmt: skip
    """``network connect``: recorded for the next start; a running container gets the interface now."""
    from podpy.network.netopts import check_ip, check_mac

    cfg = get(paths, name)
    st, rec = _bridge_container(paths, ref)
    nets = container_networks(rec)
    if cfg["name"] in nets:
        raise PodpyError(f"container {rec.id} is already connected to network {cfg['name']}: network is already connected")
    opts: dict[str, Any] = {}
    if aliases:
        opts["aliases"] = list(aliases)
    if ip:
        opts["ip"] = netconf.check_static_ip(cfg, check_ip(ip), set())
    if mac:
        opts["mac"] = check_mac(mac)
    if rec.state in ("running", "paused"):
        _hot_attach(paths, rec, cfg, opts)
    _set_networks(st, rec, {**nets, cfg["name"]: opts})


def disconnect(paths: Paths, name: str, ref: str) -> None:
    """``network disconnect``: the interface goes now when the container runs, the network from its config."""
    cfg = get(paths, name)
    st, rec = _bridge_container(paths, ref)
    nets = container_networks(rec)
    if cfg["name"] not in nets:
        raise PodpyError(f"container {rec.id} is not connected to network {cfg['name']}: network is not connected")
    if len(nets) == 1:
        raise PodpyError(f"cannot disconnect container {rec.name} from {cfg['name']}, its only network: "
                         "podpy keeps a container on at least one network (recreate it with --network none)")  # fmt: skip
    if rec.state in ("running", "paused"):
        _hot_detach(paths, rec, cfg)
    _set_networks(st, rec, {n: o for n, o in nets.items() if n != cfg["name"]})


def _hot_attach(paths: Paths, rec: Any, cfg: dict[str, Any], opts: dict[str, Any]) -> None:
    from podpy.network import bridge, rootlessns
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)  # the namespaces belong to podpy's user namespace

    with _lock(paths):
        record = _read_json(_attach_path(paths, rec.id))
        state = _read_json(run_dir(paths) / "rootless-netns.json")
        holder = int(state.get("holder") or 0)
        if not record or not rootlessns.holder_alive(holder, _records(paths)):
            raise PodpyError(f"container {rec.name} has no network namespace to connect: restart it first")
        others = _attachments(paths)
        taken = {ln["ip"]: cid for cid, a in others.items() for ln in a.get("links") or [] if ln["network"] == cfg["name"]}
        ip = netconf.check_static_ip(cfg, opts["ip"], taken) if opts.get("ip") else netconf.allocate_ip(cfg, taken)
        idx = max((int(ln["ifname"][3:]) for ln in record["links"]), default=-1) + 1
        link = {"network": cfg["name"], "bridge": cfg["network_interface"], "gateway": netconf.gateway(cfg),
                "prefix": netconf.prefixlen(cfg), "veth": f"veth{rec.id[:8]}{idx}", "ifname": f"eth{idx}", "ip": ip,
                "mac": opts.get("mac") or netconf.random_mac(), "default_route": False,
                "aliases": list(opts.get("aliases") or []), "network_id": cfg["id"]}  # fmt: skip
        rns = rootlessns.ns_path(holder)
        if cfg["name"] not in state["bridges"]:
            state["bridges"][cfg["name"]] = cfg
            rootlessns.iptables(rns, _bridge_rules(cfg, "-A"))
        atomic_write(run_dir(paths) / "rootless-netns.json", json.dumps(state), fsync=False)
        bridge.attach(rns, record["netns"], [link])
        record["links"].append(link)
        atomic_write(_attach_path(paths, rec.id), json.dumps(record), fsync=False)
        _write_dns(paths, {**others, rec.id: record})


def _hot_detach(paths: Paths, rec: Any, cfg: dict[str, Any]) -> None:
    from podpy.network import bridge, rootlessns
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)

    with _lock(paths):
        record = _read_json(_attach_path(paths, rec.id))
        state = _read_json(run_dir(paths) / "rootless-netns.json")
        holder = int(state.get("holder") or 0)
        link = next((ln for ln in record.get("links") or [] if ln["network"] == cfg["name"]), None)
        if link is None or not rootlessns.holder_alive(holder, _records(paths)):
            return
        if link["ip"] == record.get("target") and record.get("ports"):
            raise PodpyError(f"container {rec.name} publishes its ports through network {cfg['name']}: "
                             "stop it before disconnecting")  # fmt: skip
        record["links"].remove(link)
        others = _attachments(paths)
        others[rec.id] = record
        rns = rootlessns.ns_path(holder)
        unused = not any(ln["network"] == cfg["name"] for a in others.values() for ln in a.get("links") or [])
        if unused and state.get("bridges", {}).pop(cfg["name"], None) is not None:
            with contextlib.suppress(PodpyError):
                rootlessns.iptables(rns, _bridge_rules(cfg, "-D"))
        bridge.detach(rns, [link["veth"]], [cfg["network_interface"]] if unused else [])
        atomic_write(_attach_path(paths, rec.id), json.dumps(record), fsync=False)
        atomic_write(run_dir(paths) / "rootless-netns.json", json.dumps(state), fsync=False)
        _write_dns(paths, others)


def reload(paths: Paths) -> list[str]:
    """``network reload``: a rootless namespace whose holder died is started again and every running
    container's links and port forwards are restored; the IDs of the containers on networks."""
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)
    with _lock(paths):
        attachments = _attachments(paths)
        if not attachments:
            return []
        old = _read_json(run_dir(paths) / "rootless-netns.json")
        state = _ensure_rootless_ns(paths, old)
        if state.get("holder") != old.get("holder"):
            _restore(paths, state, attachments)
        _write_dns(paths, attachments)
    return sorted(attachments)
