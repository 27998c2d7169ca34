"""The container's network, wired: mode resolution and ports at create, the helper at start, teardown.

- ``prepare`` (create): ``private`` becomes slirp4netns (or pasta with containers.conf's
  ``default_rootless_network_cmd``), Podman's conflicts are applied, ``-P`` and random host ports
  are resolved, a privileged host port is refused (naming the sysctl). Nothing runs yet: as in
  Podman, ``create`` makes no namespace.
- ``etc_files`` (create): /etc/hostname, /etc/hosts, /etc/resolv.conf in the container's userdata.
- ``setup`` (start, before the runtime creates the container): host ports checked free, a network
  namespace pinned at ``RUNROOT/netns/netns-ID`` (the path the bundle names), slirp4netns or pasta
  attached, ports forwarded. Its record (``RUNROOT/netns/ID16.json``) lets ``teardown`` stop it.
  With slirp4netns, TCP ports go through podpy's forwarder (``podpy.network.portfwd``, Podman's
  default ``port_handler=rootlesskit``): the host ports are bound here and handed to it.
- ``teardown`` (cleanup, rm, and before a new setup): helpers stopped, namespace unmounted. A crash
  of anything is covered because every later command that notices the exit runs the cleanup.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from podpy.spec.container import ContainerSpec, Mount
from podpy.util.errors import PodpyError, UsageError
from podpy.util.fsutil import atomic_write
from podpy.util.log import get_logger
from podpy.util.paths import Paths, real_uid, xdg_config_home

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

log = get_logger(__name__)  # no ``import logging`` on the run path

CONF_FILES = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf")
UNPRIVILEGED_PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"


# --- containers.conf --------------------------------------------------------------------------------


def containers_conf() -> dict[str, dict[str, Any]]:
    """The tables podpy reads from containers.conf (system files, then the user's; later keys win).
    ``CONTAINERS_CONF`` names the only file, as in Podman."""
    from podpy.util import tomlcache

    env = os.environ.get("CONTAINERS_CONF")
    files = [env] if env else [*CONF_FILES, str(xdg_config_home() / "containers" / "containers.conf")]
    merged: dict[str, dict[str, Any]] = {}
    for f in files:
        try:
            data = tomlcache.load(f)
        except tomlcache.TomlError as e:
            raise PodpyError(f"reading {f}: {e}") from None
        if data is None:
            continue
        for table in ("containers", "network", "engine"):
            if isinstance(data.get(table), dict):
                merged.setdefault(table, {}).update(data[table])
    return merged


# --- create -----------------------------------------------------------------------------------------


def _mode(spec: ContainerSpec):  # type: ignore[no-untyped-def]
    from podpy.network.options import parse_network

    return parse_network(spec.network)


def _default_mode(conf: dict[str, dict[str, Any]]) -> str:
    netns = str(conf.get("containers", {}).get("netns") or "private")
    if netns not in ("", "private"):
        return netns  # "bridge": the default network, podman (podpy.engine.networks), as rootless Podman
    cmd = str(conf.get("network", {}).get("default_rootless_network_cmd") or "slirp4netns")
    if cmd not in ("slirp4netns", "pasta"):
        raise PodpyError(f'containers.conf: invalid default_rootless_network_cmd "{cmd}": use slirp4netns or pasta')
    return cmd


def _unprivileged_start() -> int:
    try:
        with open(UNPRIVILEGED_PORT_START) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 1024


def _bind_test(ip: str, port: int, proto: object) -> tuple[Any, int]:
    """A socket bound to (ip, port) as the helper will bind it, and its port (0 asks the kernel)."""
    import socket  # 2 ms: not on the --network none path

    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    try:
        if proto != "udp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as slirp4netns and pasta bind
        s.bind((ip or "0.0.0.0", port))
        return s, int(s.getsockname()[1])
    except BaseException:
        s.close()
        raise


def _random_ports(ip: str, proto: object, count: int) -> int:
    """A free host port (or ``count`` consecutive ones), as Podman picks them: the kernel's choice."""
    for _ in range(20):
        s, first = _bind_test(ip, 0, proto)
        s.close()
        if first + count - 1 > 65535:
            continue
        held = []
        try:
            for p in range(first, first + count):
                held.append(_bind_test(ip, p, proto)[0])
            return first
        except OSError:
            continue
        finally:
            for h in held:
                h.close()
    raise PodpyError(f"no {count} free consecutive host ports for {proto} on {ip or '0.0.0.0'}")


def _ports(spec: ContainerSpec, image_cfg: dict[str, Any]) -> list[dict[str, Any]]:
    from podpy.network import options

    mappings = [dict(m) for m in spec.ports]
    if spec.publish_all:
        have = {(m["container_port"], m["protocol"]) for m in mappings}
        exposed = {**(image_cfg.get("ExposedPorts") or {}), **dict.fromkeys(spec.expose, {})}
        mappings += [m for m in options.exposed_ports({"ExposedPorts": exposed})
                     if (m["container_port"], m["protocol"]) not in have]  # fmt: skip
    for m in mappings:
        if not m["host_port"]:
            m["host_port"] = _random_ports(str(m["host_ip"]), m["protocol"], int(m["range"]))
    start = _unprivileged_start()
    for m in mappings:
        if int(m["host_port"]) < start and real_uid() != 0:
            p = int(m["host_port"])
            raise PodpyError(
                f"cannot expose privileged port {p}, you can add 'net.ipv4.ip_unprivileged_port_start={p}' "
                f"to /etc/sysctl.conf (currently {start}), or choose a larger port number (>= {start})"
            )
    return options.expand_ports(mappings)


def prepare(paths: Paths, spec: ContainerSpec, image_cfg: dict[str, Any]) -> ContainerSpec:
    """The spec with its network resolved for recording: the mode, Podman's conflicts, host ports."""
    from podpy.network.options import parse_network

    if spec.network in ("none", "host") and not (spec.ports or spec.publish_all or spec.dns or spec.dns_search
                                                 or spec.dns_options or spec.add_hosts or spec.no_hosts):  # fmt: skip
        return spec  # the fast path (``run --rm --network none``): nothing to resolve
    mode = parse_network(spec.network)
    network = spec.network
    conf = containers_conf() if mode.kind in ("private", "slirp4netns") else {}
    if mode.kind == "private":
        network = _default_mode(conf)
        mode = parse_network(network)
    if mode.kind == "slirp4netns" and not mode.slirp:  # Podman: [engine] network_cmd_options when none given
        opts = conf.get("engine", {}).get("network_cmd_options") or []
        if opts:
            network = "slirp4netns:" + ",".join(map(str, opts))
            mode = parse_network(network)
    if mode.kind == "none" and (spec.dns or spec.dns_search or spec.dns_options):
        flag = "dns" if spec.dns else "dns-search" if spec.dns_search else "dns-option"
        raise UsageError(f"conflicting options: {flag} and the network mode: none")
    if spec.no_hosts and spec.add_hosts:
        raise UsageError("--no-hosts and --add-host cannot be set together")
    if mode.kind == "ns" and not os.path.exists(mode.value):
        raise PodpyError(f"cannot find specified network namespace path: stat {mode.value}: no such file or directory")
    if mode.kind == "container":
        _target(paths, mode.value)
    if mode.kind == "bridge":  # user-defined networks: checked and keyed by name (podpy.engine.networks)
        network, spec = "bridge", spec.replace(networks=_networks().prepare(paths, spec))
    ports: list[dict[str, Any]] = []
    if spec.ports or spec.publish_all:
        if mode.has_helper or mode.kind == "bridge":
            ports = _ports(spec, image_cfg)
            fwd = _forwarded(mode, ports)  # podpy's forwarder binds IPv6 addresses too, slirp4netns cannot
            if mode.kind == "slirp4netns" and any(":" in str(p["host_ip"]) and p not in fwd for p in ports):
                raise UsageError("slirp4netns cannot publish ports on IPv6 host addresses: use --network pasta")
        elif spec.ports:
            log.warning("Port mappings have been discarded as one of the Host, Container, Pod, and None network modes are in use")
    return spec.replace(network=network, ports=ports)


def _target(paths: Paths, ref: str):  # type: ignore[no-untyped-def]
    from podpy.engine import containers
    from podpy.util.errors import NotFoundError

    try:
        return containers.open_state(paths).get(ref)
    except NotFoundError as e:
        raise PodpyError(f"looking up container to share net namespace with: {e.message}") from None


def net_dir(paths: Paths) -> Path:
    return Path(paths.runroot) / "netns"


def netns_path(paths: Paths, cid: str) -> str:
    return str(net_dir(paths) / f"netns-{cid}")


def _networks():  # type: ignore[no-untyped-def]
    from podpy.engine import networks

    return networks


def bundle_netns(paths: Paths, spec: ContainerSpec, cid: str) -> str | None:
    """The network namespace path config.json names (None: a new, empty one; ignored for host)."""
    mode = _mode(spec)
    if mode.has_helper or mode.kind == "bridge":
        return netns_path(paths, cid)
    if mode.kind == "ns":
        return mode.value
    if mode.kind == "container":
        return netns_path(paths, _target(paths, mode.value).id)  # checked again at start
    return None


# --- /etc files -------------------------------------------------------------------------------------


def _read(path: str, limit: int = 1 << 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return ""


def host_ip() -> str:
    """The host's first non-loopback IPv4 address (Podman 4.3's host.containers.internal, rootless).

    SIOCGIFCONF through ``_socket`` (``socket`` itself costs 2 ms, on the ``--network none`` path)."""
    import _socket
    import array
    import fcntl
    import struct

    siocgifconf, size = 0x8912, 40
    buf = array.array("B", b"\0" * size * 64)
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("iL", len(buf), buf.buffer_info()[0])
        n = struct.unpack("iL", fcntl.ioctl(s.fileno(), siocgifconf, req))[0]
    except OSError:
        return ""
    finally:
        s.close()
    raw = buf.tobytes()[:n]
    for off in range(0, n, size):
        ip = _socket.inet_ntoa(raw[off + 20 : off + 24])
        if not ip.startswith("127."):
            return ip
    return ""


def _host_resolv() -> str:
    text = _read("/etc/resolv.conf", 65536)
    from podpy.network.etc import host_nameservers

    if host_nameservers(text) == ["127.0.0.53"]:  # systemd-resolved's stub: Podman reads the real list
        text = _read("/run/systemd/resolve/resolv.conf", 65536) or text
    return text


def _slirp_addresses(mode: Any) -> dict[str, str]:
    from podpy.network import slirp  # ipaddress & co.: not on the --network none path

    return slirp.addresses(mode.slirp)


def etc_files(paths: Paths, spec: ContainerSpec, userdata: Path, hostname: str, name: str) -> list[Mount]:
    """/etc/hostname, /etc/hosts, /etc/resolv.conf written as Podman 4.3 writes them and bound in.

    No resolv.conf with --network none and no hosts with --no-hosts (the image's stay), as Podman;
    ``container:NAME`` shares that container's files.
    """
    from podpy.network import etc

    mode = _mode(spec)
    slirp_addr = _slirp_addresses(mode) if mode.kind == "slirp4netns" else {}
    wanted = {m.destination for m in spec.mounts}
    files: dict[str, str | Path] = {"/etc/hostname": hostname}  # no newline, as Podman 4.3 writes it
    if mode.kind == "container":
        from podpy.engine import containers

        other = containers.container_dir(paths, _target(paths, mode.value).id) / "userdata"
        for f in ("hosts", "resolv.conf"):
            if (other / f).exists():
                files[f"/etc/{f}"] = other / f
    else:
        conf = containers_conf() if mode.kind != "none" else {}  # none: the fast path reads no config
        cconf = conf.get("containers", {})
        if not spec.no_hosts and not cconf.get("no_hosts"):
            base = _read(str(cconf.get("base_hosts_file") or "/etc/hosts"))
            own: tuple[str, list[str]] | None = None
            if mode.kind == "slirp4netns":
                own = (slirp_addr["ip"], [hostname, name])
            elif mode.kind == "pasta":
                own = (host_ip() or "127.0.0.1", [hostname, name])
            elif mode.kind in ("none", "ns"):
                own = ("127.0.0.1", [hostname, name])
            from podpy.network.options import parse_add_host

            files["/etc/hosts"] = etc.hosts_file(base, parse_add_host(spec.add_hosts), host_ip(), own)
        if mode.kind == "bridge":
            files["/etc/resolv.conf"] = _networks().resolv_conf(paths, spec, _host_resolv(), cconf)
        elif mode.kind != "none":
            first = [slirp_addr["dns"]] if slirp_addr else []
            files["/etc/resolv.conf"] = etc.resolv_conf(
                _host_resolv(), nameservers=[*(cconf.get("dns_servers") or []), *spec.dns],  # Podman: config, then flags
                searches=[*(cconf.get("dns_searches") or []), *spec.dns_search],
                options=[*(cconf.get("dns_options") or []), *spec.dns_options], first=first,
                filter_host=mode.kind != "host", ipv6=mode.slirp.get("enable_ipv6", "true") == "true",
            )  # fmt: skip
    mounts = []
    for dest, content in files.items():
        if dest in wanted:
            continue
        if isinstance(content, Path):
            path = content
        else:
            path = userdata / os.path.basename(dest)
            path.write_text(content)
        mounts.append(Mount("bind", dest, str(path), ("bind", "rprivate")))
    return mounts


# --- start and teardown -----------------------------------------------------------------------------


def _record_path(paths: Paths, cid: str) -> Path:
    return net_dir(paths) / f"{cid[:16]}.json"


def _in_use(p: dict[str, Any], e: OSError) -> PodpyError:
    ip = p["host_ip"] or "0.0.0.0"
    why = "address already in use" if e.errno == 98 else (e.strerror or str(e)).lower()
    return PodpyError(
        f"cannot publish port {p['host_port']}/{p['protocol']}: listen {p['protocol']} {ip}:{p['host_port']}: "
        f"bind: {why}: choose another host port or stop what holds it"
    )


def _check_ports_free(ports: list[dict[str, Any]]) -> None:
    for p in ports:
        try:
            s, _ = _bind_test(str(p["host_ip"]), int(p["host_port"]), p["protocol"])
            s.close()
        except OSError as e:
            raise _in_use(p, e) from None


def _listen(ports: list[dict[str, Any]]) -> list[tuple[Any, int]]:
    """The forwarder's listening sockets, bound here so a port in use is this command's error:
    [(socket, container port)]. No host IP: every address, IPv6 too (one dual-stack socket), as
    Podman's rootlessport listens; only IPv4 where the host has no IPv6."""
    if not ports:
        return []
    import socket  # 2 ms: only for a container with published TCP ports

    out: list[tuple[Any, int]] = []
    try:
        for p in ports:
            ip, port = str(p["host_ip"]), int(p["host_port"])
            try:
                if ip:
                    s, _ = _bind_test(ip, port, "tcp")
                else:
                    try:
                        s = _dual_stack(port)
                    except OSError as e:
                        if e.errno not in (97, 99):  # EAFNOSUPPORT, EADDRNOTAVAIL: no IPv6 here
                            raise
                        s, _ = _bind_test("", port, "tcp")
                out.append((s, int(p["container_port"])))
                s.listen(socket.SOMAXCONN)
            except OSError as e:
                raise _in_use(p, e) from None
    except BaseException:
        for s, _ in out:
            s.close()
        raise
    return out


def _dual_stack(port: int) -> Any:
    import socket

    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        return s
    except BaseException:
        s.close()
        raise


def _forwarded(mode: Any, ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ports podpy's forwarder serves (``port_handler=rootlesskit``, Podman's default): TCP with
    slirp4netns; the rest go through slirp4netns' ``add_hostfwd``."""
    if mode.kind != "slirp4netns" or mode.slirp.get("port_handler", "rootlesskit") != "rootlesskit":
        return []
    return [p for p in ports if p["protocol"] == "tcp"]


def _join_target(paths: Paths, rec: Any, mode: Any) -> None:
    """container:NAME: point the bundle at that container's namespace, which must exist now."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    other = containers.get(st, paths, _target(paths, mode.value).id)
    if other.state != "running":
        raise PodpyError(f"cannot join the network namespace of container {other.name}: it is not running")
    path = netns_path(paths, other.id)
    if not os.path.exists(path):
        path = f"/proc/{other.pid}/ns/net"
    cfg_path = containers.container_dir(paths, rec.id) / "userdata" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    for ns in (cfg.get("linux") or {}).get("namespaces") or []:
        if ns.get("type") == "network" and ns.get("path") != path:
            ns["path"] = path
            atomic_write(cfg_path, json.dumps(cfg, indent=1), fsync=False)


def _ready() -> None:
    """Nothing left to wait for."""


_EARLY: dict[str, Callable[[], None]] = {}  # cid -> wait for its namespace, being made (``start_early``)


def start_early(paths: Paths, spec: ContainerSpec, cid: str) -> None:
    """``run``: start making the container's own network namespace now, in a thread, so that the
    kernel's milliseconds overlap with the rest of ``create``; ``setup`` waits for it and goes on.
    Only for slirp4netns and pasta, the modes whose namespace podpy makes (not pods' members)."""
    if spec.pod or spec.network in ("none", "host") or spec.network.startswith("ns:"):
        return
    mode = _mode(spec)
    if mode.kind in ("container", "bridge") or not mode.has_helper:
        return
    from podpy.network import netns

    _EARLY[cid] = netns.create_in_background(netns_path(paths, cid))


def drop_early(paths: Paths, cid: str) -> None:
    """``create`` failed: wait for the namespace ``start_early`` is making and remove it."""
    wait = _EARLY.pop(cid, None)
    if wait is None:
        return
    from podpy.network import netns

    with contextlib.suppress(PodpyError):
        wait()
        netns.remove(netns_path(paths, cid))


def setup(paths: Paths, rec: Any, st: Any = None, *, defer: bool = False) -> Callable[[], None]:
    """Before the runtime creates the container: its network namespace, helper and port forwards.

    On failure nothing is left running, and a ``--rm`` container is removed (it never ran); ``st``:
    the caller's State when it holds the container's lock (the lock is not re-entrant). ``defer``:
    do not wait for slirp4netns to be ready (nor add its port forwards) here; the caller calls the
    returned function before the container's process starts (``run`` creates the container meanwhile).
    """
    spec = rec.config.get("spec") or {}
    if spec.get("pod"):  # a pod member: its infra running, its bundle naming the infra's namespaces
        from podpy.engine import pods

        pods.before_start(paths, rec)
    network = str(spec.get("network") or "private")
    if network in ("none", "host") or network.startswith("ns:"):
        return _ready
    try:
        made = _EARLY.pop(rec.id, None)
        if made is not None:
            made()  # its error is handled as any other, below
        ports = list(rec.config.get("ports") or spec.get("ports") or [])
        finish = _setup(paths, rec, network, ports, made=made is not None)
        if not defer:
            finish()
        return finish
    except BaseException:
        with contextlib.suppress(PodpyError):
            teardown(paths, rec.id)
        if rec.config.get("remove"):
            from podpy.engine import containers

            with contextlib.suppress(PodpyError):
                if st is not None:
                    containers.remove_locked(st, paths, st.get(rec.id), force=True, timeout=0)
                else:
                    containers.remove(paths, rec.id, force=True, timeout=0)
        raise


def _setup(paths: Paths, rec: Any, network: str, ports: list[dict[str, Any]], made: bool = False) -> Callable[[], None]:
    """Everything up to starting the helper; what is left (slirp4netns ready, port forwards) is the
    function returned. ``made``: the namespace exists already (``start_early``)."""
    from podpy.network import helper, netns, options

    mode = options.parse_network(network)
    if mode.kind == "container":
        _join_target(paths, rec, mode)
        return _ready
    if mode.kind == "bridge":
        _networks().setup(paths, rec, ports)
        return _ready
    if not mode.has_helper:
        return _ready
    if not made:
        teardown(paths, rec.id)  # leftovers of a start that was killed half-way
    forwarded = _forwarded(mode, ports)
    listeners = _listen(forwarded)  # bound for real: the forwarder gets them (our copies closed below)
    try:
        _check_ports_free([p for p in ports if p not in forwarded])
        binary = mode.kind  # looked up on $PATH when started; a missing one names its package (helper.not_found)
        helper.check_tun()
        ns = netns_path(paths, rec.id)
        if not made:
            netns.create(ns)
        record: dict[str, Any] = {"kind": mode.kind, "netns": ns, "pid": 0, **({"port_pid": 0} if listeners else {})}
        atomic_write(_record_path(paths, rec.id), json.dumps(record), fsync=False)
        if mode.kind == "slirp4netns":
            return _start_slirp(paths, rec.id, mode, binary, record, ports, forwarded, listeners)
    finally:
        for s, _ in listeners:
            s.close()  # the forwarder holds its own copies
    from podpy.network import pasta

    stem = net_dir(paths) / rec.id[:16]
    record["pid"] = pasta.start(binary, list(mode.pasta), ns, ports, f"{stem}.pid", f"{stem}.log")
    atomic_write(_record_path(paths, rec.id), json.dumps(record), fsync=False)
    return _ready


def _start_slirp(paths: Paths, cid: str, mode: Any, binary: str, record: dict[str, Any], ports: list[dict[str, Any]],
                 forwarded: list[dict[str, Any]], listeners: list[tuple[Any, int]]) -> Callable[[], None]:  # fmt: skip
    """slirp4netns spawned, then the port forwarder (its sockets already listen: no wait); the
    function returned waits for slirp4netns and adds its own port forwards (UDP, port_handler=slirp4netns)."""
    from podpy.network import slirp

    ns, d = record["netns"], net_dir(paths)
    log_path, sock = str(d / f"{cid[:16]}.log"), str(d / f"{cid[:16]}.sock")
    guest = slirp.addresses(mode.slirp)["ip"]
    record["pid"], ready_fd = slirp.spawn(binary, mode.slirp, ns, sock, log_path)
    if listeners:
        from podpy.network import portfwd  # threading and socket: only for a container with TCP ports

        try:
            record["port_pid"] = portfwd.start(ns, guest, listeners, str(d / f"{cid[:16]}.portfwd.log"))
        except BaseException:
            os.close(ready_fd)
            raise
    atomic_write(_record_path(paths, cid), json.dumps(record), fsync=False)
    rest = [p for p in ports if p not in forwarded]

    def finish() -> None:
        slirp.wait_ready(record["pid"], ready_fd, ns, log_path)
        for p in rest:
            slirp.add_hostfwd(sock, p, guest)

    return finish


def teardown(paths: Paths, cid: str) -> None:
    """Stop the helper and unmount the namespace; cheap (one stat) when there is none."""
    rpath = _record_path(paths, cid)
    ns = netns_path(paths, cid)
    if not rpath.exists() and not os.path.exists(ns):
        return
    try:
        record = json.loads(rpath.read_text())
    except (OSError, ValueError):
        record = {}
    from podpy.network import helper, netns, options
    from podpy.rootless.userns import ensure_userns

    if record.get("kind") not in options.HELPER_MODES:  # no helper of its own: maybe user-defined networks
        _networks().teardown(paths, cid)  # veths, port forwards, DNS records
    ensure_userns(paths)  # the namespace's bind mount is only visible inside podpy's mount namespace
    # the record is written before the helpers start: with it, a pid of 0 means killed before the pid
    # was recorded (look for the helpers: slirp4netns/pasta and the port forwarder name the namespace);
    # without it none was ever started
    pids = [int(record.get(k) or 0) for k in ("port_pid", "pid") if k in record]
    if record and not all(pids):
        pids = helper.all_serving(ns)
    for pid in pids:
        helper.stop(pid, ns)
    netns.remove(ns)
    for suffix in (".json", ".sock", ".pid", ".log", ".portfwd.log"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(net_dir(paths) / f"{cid[:16]}{suffix}")


# --- what inspect shows ------------------------------------------------------------------------------


def inspect_settings(paths: Paths, rec: Any) -> dict[str, Any]:
    """inspect's NetworkSettings as Podman 4.3 fills it for rootless slirp4netns/pasta containers:
    the published ports and the namespace path while it exists (addresses stay empty, as in Podman)."""
    from podpy.network.report import inspect_ports

    ns = netns_path(paths, rec.id)
    out = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "Bridge": "", "SandboxID": "",
            "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": inspect_ports(rec.config.get("ports")),
            "SandboxKey": ns if rec.state in ("running", "paused", "stopping") and os.path.exists(ns) else ""}  # fmt: skip
    if (rec.config.get("spec") or {}).get("network") == "bridge":
        _networks().add_inspect(paths, rec, out)  # Networks: addresses, MACs, aliases per network
    return out
