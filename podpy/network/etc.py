"""/etc/hosts and /etc/resolv.conf contents, written the way Podman 4.3 (containers/common) writes them.

Pure functions of their inputs (the host's files are read by the caller), so the rules are unit-tested:
- hosts: ``--add-host`` entries first, then the base file's entries (``/etc/hosts``: comments and
  bare addresses skipped, ``IP<TAB>names``), then — only for names not already present — localhost,
  ``host.containers.internal`` and the container's own address with its hostname and name.
- resolv.conf: ``search``, ``nameserver``s, ``options``; ``--dns`` replaces the nameservers,
  otherwise slirp4netns's resolver (10.0.2.3) comes first, followed by the host's (loopback ones
  dropped: they would point into the container); ``--dns-search``/``--dns-option`` replace the host's.
"""

from __future__ import annotations

HostEntry = tuple[str, list[str]]


def parse_hosts(text: str) -> list[HostEntry]:
    """Podman's parseHostsFile: fields per line; comments and address-only lines skipped."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0].startswith("#"):
            continue
        out.append((fields[0], fields[1:]))
    return out


def hosts_file(base: str, extra: list[tuple[str, str]], internal_ip: str, own: HostEntry | None) -> str:
    """The container's /etc/hosts. ``extra``: --add-host (name, ip); ``own``: (address, [hostname, name])."""
    user = [(ip, [name]) for name, ip in extra] + parse_hosts(base)
    names = {n for _, ns in user for n in ns}
    special: list[HostEntry] = [("127.0.0.1", ["localhost"]), ("::1", ["localhost"])]
    special = [e for e in special if "localhost" not in names]
    if internal_ip:
        special.append((internal_ip, ["host.containers.internal"]))
    if own is not None:
        special.append(own)
    lines = [f"{ip}\t{' '.join(ns)}\n" for ip, ns in user]
    for ip, ns in special:
        free = [n for n in ns if n not in names]  # a name twice in one entry stays twice, as in Podman
        if free:
            lines.append(f"{ip}\t{' '.join(free)}\n")
    return "".join(lines)


def _values(text: str, key: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == key:
            out += fields[1:] if key != "nameserver" else fields[1:2]
    return out


def host_nameservers(text: str) -> list[str]:
    return _values(text, "nameserver")


def is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


def resolv_conf(host: str, *, nameservers: list[str], searches: list[str], options: list[str],
                first: list[str] = (), filter_host: bool = True, ipv6: bool = True) -> str:  # type: ignore[assignment]  # fmt: skip
    """The container's resolv.conf. ``nameservers``/``searches``/``options``: the flags (empty: the
    host's); ``first``: the network's own resolver (slirp4netns 10.0.2.3), used only without --dns;
    ``filter_host=False`` for --network host (the host's servers as they are, loopback included)."""
    if nameservers:
        servers = list(nameservers)
    else:
        hs = host_nameservers(host)
        if filter_host:
            hs = [s for s in hs if not is_loopback(s) and (ipv6 or ":" not in s)]
        servers = list(first) + hs
        if not servers:
            servers = ["8.8.8.8", "8.8.4.4"]  # containers/common's defaults when nothing is left
    search = list(searches) if searches else _values(host, "search")
    opts = list(options) if options else _values(host, "options")
    out = ""
    if search and " ".join(search).strip(" ") != ".":
        out += "search " + " ".join(s for s in search if s != ".") + "\n"
    out += "".join(f"nameserver {s}\n" for s in servers)
    if opts and " ".join(opts).strip():
        out += "options " + " ".join(opts) + "\n"
    return out
