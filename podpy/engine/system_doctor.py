"""``podpy system doctor``: every rootless prerequisite checked, each with ok or the exact fix.

Each check returns a ``Check``: ``ok``, ``warn`` (containers run, but something is degraded:
slower storage, no resource limits, low ports) or ``fail`` (something most containers need is
missing: the command exits 1). Checks only look (and probe overlay in a throw-away namespace);
they never change the host. The subordinate ID files honour ``PODPY_SUBUID_FILE`` /
``PODPY_SUBGID_FILE`` (as the namespace setup does), so a test can show a user without ranges.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podpy.util.paths import Paths

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_SUBIDS = 65536  # what useradd allocates and most images need (nobody = 65534)
MIN_FREE = 1 << 30  # 1 GiB: a small image pull + unpack
PROC_SYS = "/proc/sys"  # unit tests point this at a fake tree


@dataclass
class Check:
    name: str
    status: str
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {"Check": self.name, "Status": self.status, "Message": self.message, "Fix": self.fix}


def _user() -> tuple[int, int, str]:
    from podpy.rootless.userns import rootless_gid, rootless_uid

    uid = rootless_uid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return uid, rootless_gid(), name


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def check_userns() -> Check:
    mx = _read(f"{PROC_SYS}/user/max_user_namespaces")
    clone = _read(f"{PROC_SYS}/kernel/unprivileged_userns_clone")
    if mx is not None and mx.isdigit() and int(mx) == 0:
        return Check("userns", FAIL, "user namespaces are disabled (user.max_user_namespaces = 0)",
                     "run `sysctl -w user.max_user_namespaces=28633` as root (and persist it in /etc/sysctl.d)")  # fmt: skip
    if clone == "0":
        return Check("userns", FAIL, "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)",
                     "run `sysctl -w kernel.unprivileged_userns_clone=1` as root (and persist it in /etc/sysctl.d)")  # fmt: skip
    return Check("userns", OK, f"unprivileged user namespaces are enabled (max {mx or 'unknown'})")


def _subid_check(kind: str) -> Check:
    from podpy.rootless import userns
    from podpy.rootless.subid import read_ranges

    uid, _, name = _user()
    f = userns._subuid_file() if kind == "uid" else userns._subgid_file()
    ranges = read_ranges(f, name, uid)
    total = sum(r.count for r in ranges)
    if not ranges:
        return Check(f"sub{kind}", FAIL,
                     f"no subordinate {kind}s for {name} in {f}: only images whose files all belong to root work",
                     userns.subid_hint(name))  # fmt: skip
    spans = ", ".join(f"{r.start}-{r.start + r.count - 1}" for r in ranges)
    if total < MIN_SUBIDS:
        return Check(f"sub{kind}", WARN,
                     f"{name} has only {total} subordinate {kind}s in {f} ({spans}): images with IDs above {total} fail",
                     f"give {name} {MIN_SUBIDS} IDs: {userns.subid_hint(name)}")  # fmt: skip
    return Check(f"sub{kind}", OK, f"{name} has {total} subordinate {kind}s in {f} ({spans})")


def check_subuid() -> Check:
    return _subid_check("uid")


def check_subgid() -> Check:
    return _subid_check("gid")


def _idmap_tool(name: str) -> Check:
    from podpy.rootless.userns import find_helper

    path = find_helper(name)
    if path is None:
        return Check(name, FAIL, f"{name} is not installed: subordinate IDs cannot be mapped",
                     "install the uidmap package as root (apt-get install uidmap; dnf install shadow-utils)")  # fmt: skip
    st = os.stat(path)
    setuid_root = bool(st.st_mode & stat.S_ISUID) and st.st_uid == 0
    fcaps = False
    with contextlib.suppress(OSError):
        fcaps = bool(os.getxattr(path, "security.capability"))
    if setuid_root:
        return Check(name, OK, f"{path} is setuid root")
    if fcaps:
        return Check(name, OK, f"{path} has file capabilities")
    return Check(name, FAIL, f"{path} is neither setuid root nor has file capabilities",
                 f"run `chmod u+s {path}` as root, or reinstall the uidmap package")  # fmt: skip


def check_newuidmap() -> Check:
    return _idmap_tool("newuidmap")


def check_newgidmap() -> Check:
    return _idmap_tool("newgidmap")


def check_tun() -> Check:
    dev = "/dev/net/tun"
    if not os.path.exists(dev):
        return Check("tun", FAIL, f"{dev} does not exist: slirp4netns and pasta cannot give containers a network",
                     "run `modprobe tun` as root (or use --network none / host)")  # fmt: skip
    if not os.access(dev, os.R_OK | os.W_OK):
        mode = stat.S_IMODE(os.stat(dev).st_mode)
        return Check("tun", FAIL, f"{dev} is mode {mode:04o}: this user cannot open it, so networking fails",
                     f"run `chmod 666 {dev}` as root (most distributions ship it 0666)")  # fmt: skip
    return Check("tun", OK, f"{dev} is usable")


def check_network_helper() -> Check:
    import shutil

    found = [n for n in ("slirp4netns", "pasta") if shutil.which(n)]
    if not found:
        return Check("network", FAIL, "neither slirp4netns nor pasta is installed: only --network none/host work",
                     "install slirp4netns or passt as root (apt-get install slirp4netns)")  # fmt: skip
    return Check("network", OK, f"{' and '.join(found)} found")


def _probe_overlay(base: Path) -> str:
    """Mount kernel overlay (userxattr) in a fresh user + mount namespace under ``base``; "" when it worked."""
    import shutil
    import tempfile

    from podpy.util import syscalls

    tmp = Path(tempfile.mkdtemp(prefix=".podpy-doctor-", dir=base))
    for d in ("lower", "upper", "work", "merged"):
        (tmp / d).mkdir()
    uid, gid = os.getuid(), os.getgid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(r)
            sc = syscalls.get()
            sc.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS)
            for f, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{f}", "w") as fh:
                    fh.write(text)
            opts = f"lowerdir={tmp / 'lower'},upperdir={tmp / 'upper'},workdir={tmp / 'work'},userxattr"
            sc.mount("overlay", str(tmp / "merged"), "overlay", 0, opts)
            sc.umount2(str(tmp / "merged"))
            code = 0
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            with contextlib.suppress(OSError):
                os.write(w, str(getattr(e, "strerror", None) or e).encode()[:500])
        finally:
            os._exit(code)
    os.close(w)
    msg = b""
    while chunk := os.read(r, 4096):
        msg += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    with contextlib.suppress(OSError):
        for p in tmp.rglob("*"):
            if p.is_dir() and not p.is_symlink():
                os.chmod(p, 0o700)
    shutil.rmtree(tmp, ignore_errors=True)
    return "" if os.waitstatus_to_exitcode(status) == 0 else (msg.decode(errors="replace") or "failed")


def check_overlay(paths: Paths) -> Check:
    import shutil

    base = paths.root if paths.root.is_dir() else Path(os.environ.get("TMPDIR") or "/tmp")
    try:
        err = _probe_overlay(base)
    except OSError as e:
        err = str(e)
    if not err:
        return Check("overlay", OK, f"kernel overlay mounts in a user namespace (on {base})")
    fuse = shutil.which("fuse-overlayfs")
    if fuse and os.access("/dev/fuse", os.R_OK | os.W_OK):
        return Check("overlay", WARN, f"kernel overlay in a user namespace failed ({err}); fuse-overlayfs is used instead (slower)",
                     "use a kernel >= 5.11 with overlay in user namespaces for native speed")  # fmt: skip
    missing = "fuse-overlayfs is not installed" if not fuse else "/dev/fuse is not accessible"
    return Check("overlay", WARN,
                 f"kernel overlay in a user namespace failed ({err}) and {missing}: containers get a full copy of "
                 "their image (vfs: slow, uses much disk)",
                 "install fuse-overlayfs (apt-get install fuse-overlayfs) and make /dev/fuse mode 0666")  # fmt: skip


def check_runtime_dir() -> Check:
    d = os.environ.get("XDG_RUNTIME_DIR")
    uid = os.getuid()
    if not d:
        return Check("runtime-dir", WARN,
                     f"XDG_RUNTIME_DIR is not set (su/sudo without a login session): podpy uses /tmp/podpy-run-{uid}",
                     f"log in through a session (ssh, machinectl shell USER@) or `export XDG_RUNTIME_DIR=/run/user/{uid}` "
                     "after root created it (owned by you, mode 0700)")  # fmt: skip
    try:
        st = os.stat(d)
    except OSError as e:
        return Check("runtime-dir", FAIL, f"XDG_RUNTIME_DIR={d} is not usable: {e.strerror}",
                     f"as root: `install -d -m 0700 -o {uid} {d}`, or unset XDG_RUNTIME_DIR")  # fmt: skip
    problems = []
    if not stat.S_ISDIR(st.st_mode):
        problems.append("is not a directory")
    if st.st_uid != uid:
        problems.append(f"is owned by uid {st.st_uid}, not you ({uid})")
    if stat.S_IMODE(st.st_mode) != 0o700:
        problems.append(f"has mode {stat.S_IMODE(st.st_mode):04o}, not 0700")
    if problems:
        return Check("runtime-dir", FAIL, f"XDG_RUNTIME_DIR={d} " + " and ".join(problems),
                     f"as root: `chown {uid} {d} && chmod 0700 {d}`")  # fmt: skip
    return Check("runtime-dir", OK, f"XDG_RUNTIME_DIR={d} is yours, mode 0700")


def check_linger() -> Check:
    _, _, name = _user()
    if not os.path.isdir("/run/systemd/system"):
        return Check("linger", OK, "systemd is not the init system: lingering does not apply")
    if os.path.exists(f"/var/lib/systemd/linger/{name}"):
        return Check("linger", OK, f"lingering is enabled for {name}: user units keep running after logout")
    return Check("linger", WARN, f"lingering is off for {name}: containers in systemd user units stop at logout",
                 f"run `loginctl enable-linger {name}`")  # fmt: skip


def check_cgroups() -> Check:
    from podpy.engine.info import cgroup_controllers, cgroup_version

    v = cgroup_version()
    if v != "v2":
        hybrid = os.path.exists("/sys/fs/cgroup/unified")
        what = "hybrid v1+v2" if hybrid else "v1"
        return Check("cgroups", WARN,
                     f"cgroups {what}: rootless containers get no resource limits (--memory, --cpus, --pids-limit)",
                     "boot with systemd.unified_cgroup_hierarchy=1 (cgroups v2) and delegate controllers to users")  # fmt: skip
    ctl = cgroup_controllers()
    missing = [c for c in ("memory", "pids", "cpu") if c not in ctl]
    if missing:
        return Check("cgroups", WARN,
                     f"cgroups v2, but {', '.join(missing)} not delegated to this user (have: {' '.join(ctl) or 'none'})",
                     "as root: add `Delegate=cpu cpuset io memory pids` to "
                     "/etc/systemd/system/user@.service.d/delegate.conf and `systemctl daemon-reload`")  # fmt: skip
    return Check("cgroups", OK, f"cgroups v2 with delegated controllers: {' '.join(ctl)}")


def check_ports() -> Check:
    v = _read(f"{PROC_SYS}/net/ipv4/ip_unprivileged_port_start")
    if v is None or not v.isdigit():
        return Check("ports", OK, "ip_unprivileged_port_start not readable: assuming 1024")
    if int(v) > 80:
        return Check("ports", WARN, f"host ports below {v} cannot be published (-p 80:80 fails)",
                     "run `sysctl -w net.ipv4.ip_unprivileged_port_start=80` as root, or publish a higher port")  # fmt: skip
    return Check("ports", OK, f"host ports from {v} up can be published")


_BAD_FS = {"nfs", "nfs4", "cifs", "smb3", "9p", "afs", "lustre", "gpfs"}


def check_store_fs(paths: Paths) -> Check:
    from podpy.engine.info import mount_of

    mp, fstype, _ = mount_of(paths.root)
    if fstype in _BAD_FS:
        return Check("store-fs", FAIL,
                     f"the store {paths.root} is on {fstype} ({mp}): it cannot hold files of subordinate IDs or overlay layers",
                     "put the store on a local filesystem: --root /var/tmp/$USER/podpy, or graphroot in storage.conf")  # fmt: skip
    if fstype in ("overlay", "fuse", "fuse.fuse-overlayfs"):
        return Check("store-fs", WARN, f"the store {paths.root} is on {fstype} ({mp}): overlay cannot stack on it, podpy falls back to a slower driver",
                     "put the store on ext4, xfs or btrfs")  # fmt: skip
    return Check("store-fs", OK, f"the store {paths.root} is on {fstype} ({mp})")


def check_disk(paths: Paths) -> Check:
    p = paths.root
    while not p.exists() and p != p.parent:
        p = p.parent
    st = os.statvfs(p)
    free = st.f_bavail * st.f_frsize
    gib = free / (1 << 30)
    if free < MIN_FREE // 10:
        return Check("disk", FAIL, f"only {gib:.2f} GiB free on the store's filesystem ({p})",
                     "free disk space, or run `podpy system prune -a`")  # fmt: skip
    if free < MIN_FREE:
        return Check("disk", WARN, f"only {gib:.2f} GiB free on the store's filesystem ({p})",
                     "free disk space, or run `podpy system prune -a`")  # fmt: skip
    return Check("disk", OK, f"{gib:.1f} GiB free on the store's filesystem ({p})")


def run_checks(paths: Paths) -> list[Check]:
    """All checks, in the order a user fixes them."""
    checks: list[Callable[[], Check]] = [
        check_userns, check_subuid, check_subgid, check_newuidmap, check_newgidmap, check_tun,
        check_network_helper, lambda: check_overlay(paths), check_runtime_dir, check_linger, check_cgroups,
        check_ports, lambda: check_store_fs(paths), lambda: check_disk(paths),
    ]  # fmt: skip
    from podpy.rootless.userns import rootless_mode

    if not rootless_mode():
        checks = [
            lambda: Check("rootless", OK, "running as root: podpy is not rootless here; user-namespace checks do not apply"),
            check_cgroups, lambda: check_store_fs(paths), lambda: check_disk(paths),
        ]  # fmt: skip
    out = []
    for c in checks:
        try:
            out.append(c())
        except OSError as e:  # a check that cannot even look is reported, not fatal
            out.append(
                Check(getattr(c, "__name__", "check").removeprefix("check_"), WARN, f"could not check: {e}")
            )
    return out
