"""podpy's user + mount namespace: join the one the pause process keeps alive, or create it.

Why in-process (setns) rather than re-exec like Podman: a Python process can switch its own
namespaces as long as it is single-threaded, which saves a second interpreter start on every
command. Hence the rule for callers: **call ``ensure_userns(paths)`` before starting any thread**
(it refuses otherwise; setns(2) into a user namespace fails for multithreaded processes).

Creation (under ``$runroot/pause.lock``, so concurrent first invocations make one namespace):
fork a child that ``unshare(CLONE_NEWUSER|CLONE_NEWNS)``; the parent writes its ID maps with
``newuidmap``/``newgidmap`` (0 → own uid, 1.. → /etc/subuid ranges), or a single mapping when the
user has no ranges; the child makes ``/`` rprivate, forks the pause process and reports its pid;
the parent records it and joins: ``setns`` user, then mount, then ``setresgid/setresuid(0)``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from podpy.rootless import pause
from podpy.util import syscalls
from podpy.util.errors import RootlessError
from podpy.util.log import get_logger
from podpy.util.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from podpy.rootless.subid import IDMapping

# subid, subprocess and shutil are imported where used: joining the namespace (every command) needs
# none of them, only creating it does.
log = get_logger(__name__)

# Environment markers, inherited by every process started from inside (Podman uses _CONTAINERS_*).
ENV_CONFIGURED = "_PODPY_USERNS_CONFIGURED"
ENV_ROOTLESS_UID = "_PODPY_ROOTLESS_UID"
ENV_ROOTLESS_GID = "_PODPY_ROOTLESS_GID"
# Test/diagnostic overrides of the subordinate ID files (newuidmap still checks the real ones).
ENV_SUBUID_FILE = "PODPY_SUBUID_FILE"
ENV_SUBGID_FILE = "PODPY_SUBGID_FILE"

INITIAL_MAP = "0 0 4294967295"
_HELPER_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin")


def rootless_mode() -> bool:
    """Whether podpy runs rootless: not root, or told so with PODPY_ROOTLESS."""
    return os.geteuid() != 0 or bool(os.environ.get("PODPY_ROOTLESS"))


def rootless_uid() -> int:
    """The user's uid on the host, also when this process already runs as 0 inside the namespace."""
    v = os.environ.get(ENV_ROOTLESS_UID, "")
    return int(v) if v.isdigit() and _in_child_userns() else os.getuid()


def rootless_gid() -> int:
    v = os.environ.get(ENV_ROOTLESS_GID, "")
    return int(v) if v.isdigit() and _in_child_userns() else os.getgid()


def _in_child_userns() -> bool:
    try:
        text = Path(f"{pause.PROC}/self/uid_map").read_text()
    except OSError:
        return False
    return " ".join(text.split()) != INITIAL_MAP


def _self_links() -> tuple[str, str]:
    links = pause.ns_links("self")
    if links is None:
        raise RootlessError(f"cannot read {pause.PROC}/self/ns: is /proc mounted?")
    return links


def in_podpy_userns(paths: Paths | None = None) -> bool:
    """Whether this process is inside podpy's user namespace (that of ``paths``' pause process if given)."""
    if paths is not None:
        pid = pause.live_pause_pid(paths)
        links = pause.ns_links(pid) if pid else None
        return links is not None and links[0] == _self_links()[0]
    return bool(os.environ.get(ENV_CONFIGURED)) and _in_child_userns()


def userns_id_maps(paths: Paths | None = None) -> tuple[list[IDMapping], list[IDMapping]]:
    """(uid_map, gid_map) of podpy's namespace, host IDs as the host sees them (for ``podpy info``).

    Inside the namespace: its own maps. Outside: the pause process's maps when it runs, else the
    maps a new namespace would get from the subordinate ID files.
    """
    from podpy.rootless.subid import build_id_map, parse_proc_map, read_ranges

    src = None
    if _in_child_userns():
        src = "self"
    elif paths is not None:
        pid = pause.live_pause_pid(paths)
        src = str(pid) if pid else None
    if src is not None:
        try:
            return (
                parse_proc_map(Path(f"{pause.PROC}/{src}/uid_map").read_text()),
                parse_proc_map(Path(f"{pause.PROC}/{src}/gid_map").read_text()),
            )
        except OSError:
            pass
    uid, gid = rootless_uid(), rootless_gid()
    user = _user_name(uid)
    return (
        build_id_map(uid, read_ranges(_subuid_file(), user, uid)),
        build_id_map(gid, read_ranges(_subgid_file(), user, uid)),
    )


def migrate(paths: Paths) -> bool:
    """``podpy system migrate``: stop the pause process so the next command builds a fresh namespace
    (with the current /etc/subuid ranges). True when a pause process was running."""
    return pause.stop_pause_process(paths)


def stop_pause_process(paths: Paths) -> bool:
    """Stop the pause process of ``paths`` (see ``pause.stop_pause_process``); True if one ran."""
    return pause.stop_pause_process(paths)


def subid_hint(user: str | None = None) -> str:
    """The fix for a user without subordinate ranges, for messages here and in the store."""
    user = user or _user_name(rootless_uid()) or str(rootless_uid())
    texts = []
    for f in (_subuid_file(), _subgid_file()):
        with contextlib.suppress(OSError):
            texts.append(f.read_text(errors="replace"))
    from podpy.rootless.subid import suggest_range

    rng = suggest_range(texts)
    span = f"{rng.start}-{rng.start + rng.count - 1}"
    return (
        f"run `usermod --add-subuids {span} --add-subgids {span} {user}` as root, then `podpy system migrate`"
    )


# --- ensure_userns ------------------------------------------------------------------------------


def ensure_userns(paths: Paths) -> None:
    """Make the current process run inside podpy's user + mount namespace (no-op when rootful).

    Afterwards the process is uid/gid 0 in the namespace; files it creates belong to the user on
    the host, and chown to N lands on the Nth subordinate ID. Must be called before any thread
    is started. Raises RootlessError with a one-line fix when the host is not set up for it.
    """
    if not rootless_mode():
        return
    pid = pause.live_pause_pid(paths)
    if pid is not None and _already_joined(pid):
        return
    if os.environ.get(ENV_CONFIGURED) and _in_child_userns():
        # started from inside podpy's namespace (e.g. under `podpy unshare`)
        if pid is None:
            log.debug("the pause process is gone (podpy system migrate?); staying in the current namespace")
            return
        raise RootlessError(
            "this process is inside another podpy user namespace; run podpy with the same "
            "--runroot as the podpy that started it, or from outside"
        )
    _check_single_threaded()
    pause.ensure_runroot(paths)
    if pid is not None:
        with contextlib.suppress(_Vanished):
            _join(pid)
            return
    with pause.pause_lock(paths):
        pid = pause.live_pause_pid(paths)
        if pid is None:
            pid = _create(paths)
        if _already_joined(pid):
            return
        try:
            _join(pid)
        except _Vanished as e:
            raise RootlessError(f"the pause process {pid} exited while podpy was joining it: {e}") from None


class _Vanished(Exception):
    """The pause process went away between the check and setns."""


def _already_joined(pid: int) -> bool:
    """True when we are in the pause process's namespaces (joins the mount ns when only that differs)."""
    links = pause.ns_links(pid)
    mine = _self_links()
    if links is None or links[0] != mine[0]:
        return False
    if links[1] != mine[1]:
        _check_single_threaded()
        try:
            with _keep_cwd():
                syscalls.get().setns_path(f"{pause.PROC}/{pid}/ns/mnt", syscalls.CLONE_NEWNS)
        except OSError as e:
            raise RootlessError(f"cannot join podpy's mount namespace (pause process {pid}): {e}") from None
    return True


def _check_single_threaded() -> None:
    threading = sys.modules.get("threading")  # not imported here: only a process that has it can have threads
    n = threading.active_count() if threading is not None else 1
    try:
        tasks = len(os.listdir(f"{pause.PROC}/self/task"))
    except OSError:
        tasks = 1
    if n > 1 or tasks > 1:
        raise RootlessError(
            f"internal error: ensure_userns() must be called before any thread is started "
            f"({max(n, tasks)} threads are running)"
        )


@contextlib.contextmanager
def _keep_cwd() -> Iterator[None]:
    """setns(CLONE_NEWNS) resets cwd to /; go back to the same path in the new mount namespace."""
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    yield
    if cwd is not None:
        try:
            os.chdir(cwd)
        except OSError as e:
            log.debug("cannot return to %s inside the namespace: %s", cwd, e)


def _join(pid: int) -> None:
    sc = syscalls.get()
    uid, gid = os.getuid(), os.getgid()
    user_ns = f"{pause.PROC}/{pid}/ns/user"
    mnt_ns = f"{pause.PROC}/{pid}/ns/mnt"
    for p in (user_ns, mnt_ns):
        if not os.path.lexists(p):
            raise _Vanished(f"{p} is gone")
    try:
        with _keep_cwd():
            sc.setns_path(user_ns, syscalls.CLONE_NEWUSER)
            sc.setns_path(mnt_ns, syscalls.CLONE_NEWNS)
    except (FileNotFoundError, ProcessLookupError) as e:
        raise _Vanished(str(e)) from None
    except OSError as e:
        raise RootlessError(f"cannot join podpy's user namespace (pause process {pid}): {e}") from None
    try:
        sc.setresgid(0, 0, 0)
        sc.setresuid(0, 0, 0)
    except OSError as e:
        raise RootlessError(f"cannot become root in podpy's user namespace: {e}") from None
    os.environ[ENV_CONFIGURED] = "1"
    os.environ.setdefault(ENV_ROOTLESS_UID, str(uid))
    os.environ.setdefault(ENV_ROOTLESS_GID, str(gid))
    os.environ["PODPY_ROOTLESS"] = "1"
    log.debug("joined the user namespace of pause process %d", pid)


# --- creation -----------------------------------------------------------------------------------


def _subuid_file() -> Path:
    from podpy.rootless.subid import SUBUID_FILE

    return Path(os.environ.get(ENV_SUBUID_FILE) or SUBUID_FILE)


def _subgid_file() -> Path:
    from podpy.rootless.subid import SUBGID_FILE

    return Path(os.environ.get(ENV_SUBGID_FILE) or SUBGID_FILE)


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def find_helper(name: str) -> str | None:
    """newuidmap/newgidmap on PATH or in the usual system dirs (PATH may be minimal under sudo)."""
    import shutil

    found = shutil.which(name)
    if found:
        return found
    for d in _HELPER_DIRS:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def _check_helper(name: str, user: str) -> str:
    path = find_helper(name)
    if path is None:
        raise RootlessError(
            f"{name} not found, but user {user} has subordinate ids to map: install the uidmap package "
            f"(apt-get install uidmap; dnf install shadow-utils)"
        )
    st = os.stat(path)
    setuid_root = bool(st.st_mode & stat.S_ISUID) and st.st_uid == 0
    has_fcaps = False
    with contextlib.suppress(OSError):
        has_fcaps = bool(os.getxattr(path, "security.capability"))
    if not (setuid_root or has_fcaps):
        raise RootlessError(
            f"{path} is neither setuid root nor has file capabilities: run `chmod u+s {path}` as root "
            f"or reinstall the uidmap package"
        )
    return path


def _plan(uid: int, gid: int) -> tuple[list[IDMapping] | None, list[IDMapping] | None, str]:
    """The maps for newuidmap/newgidmap (None = single mapping for that kind) and the user's name."""
    from podpy.rootless.subid import build_id_map, read_ranges

    user = _user_name(uid) or str(uid)
    uranges = read_ranges(_subuid_file(), user, uid)
    granges = read_ranges(_subgid_file(), user, uid)
    umap = build_id_map(uid, uranges) if uranges else None
    gmap = build_id_map(gid, granges) if granges else None
    return umap, gmap, user


def _write_proc(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _write_maps(child: int, uid: int, gid: int) -> None:
    """Give the child's new user namespace its ID maps, from outside (the parent)."""
    import subprocess

    from podpy.rootless.subid import IDMapping, format_map, newidmap_args

    umap, gmap, user = _plan(uid, gid)
    helpers = {}
    if umap is not None:
        helpers["newuidmap"] = _check_helper("newuidmap", user)
    if gmap is not None:
        helpers["newgidmap"] = _check_helper("newgidmap", user)
    if umap is None or gmap is None:
        missing = " and ".join(
            f for f, m in ((str(_subuid_file()), umap), (str(_subgid_file()), gmap)) if m is None
        )
        log.warning(
            "no subordinate ids for user %s in %s: using a single UID/GID mapping, so images with "
            "files owned by other users will fail; %s",
            user,
            missing,
            subid_hint(user),
        )
    for kind, maps, own in (("uid", umap, uid), ("gid", gmap, gid)):
        if maps is not None:
            tool = helpers[f"new{kind}map"]
            cmd = [tool, str(child), *newidmap_args(maps)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                msg = " ".join(r.stderr.split()) or f"exit status {r.returncode}"
                raise RootlessError(
                    f"{os.path.basename(tool)} failed to map the subordinate {kind}s of user {user}: {msg}; "
                    f"check the {kind} ranges of {user} in /etc/sub{kind}"
                )
        else:
            if kind == "gid":
                # an unprivileged process may only write gid_map after denying setgroups
                _write_proc(f"{pause.PROC}/{child}/setgroups", "deny")
            _write_proc(f"{pause.PROC}/{child}/{kind}_map", format_map([IDMapping(0, own, 1)]))


def _read_line(fd: int) -> str:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace").strip()


def _create(paths: Paths) -> int:
    """Create the namespace and its pause process; record and return the pause pid. Holds the lock."""
    sc = syscalls.get()
    uid, gid = os.getuid(), os.getgid()
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    confirm_r, confirm_w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child, exercised by integration tests
        _child_main(sc, to_parent_w, to_child_r, confirm_r, (to_parent_r, to_child_w, confirm_w))
    for fd in (to_parent_w, to_child_r, confirm_r):
        os.close(fd)
    try:
        try:
            first = _read_line(to_parent_r)
            if first != "unshared":
                raise _child_error(first)
            _write_maps(child, uid, gid)
            os.write(to_child_w, b"go\n")
            report = _read_line(to_parent_r)
            if not report.startswith("pause "):
                raise _child_error(report)
            pause_pid = int(report.split()[1])
        except BaseException:
            with contextlib.suppress(OSError):
                os.kill(child, 9)
            raise
        finally:
            os.close(to_parent_r)
            os.close(to_child_w)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)
        pause.record(paths, pause_pid)
        os.write(confirm_w, b"ok")  # without it (we died or failed) the pause process exits
    finally:
        os.close(confirm_w)
    log.debug("created podpy's user namespace; pause process %d", pause_pid)
    return pause_pid


def _child_error(line: str) -> RootlessError:
    if line.startswith("error "):
        detail = line[len("error ") :]
        if "unshare" in detail:
            return RootlessError(
                f"cannot create a user namespace: {detail}; make sure unprivileged user namespaces are "
                f"enabled (sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1)"
            )
        return RootlessError(f"cannot set up podpy's user namespace: {detail}")
    return RootlessError("cannot set up podpy's user namespace: the helper process exited unexpectedly")


def _child_main(
    sc: syscalls.Syscalls, out_fd: int, in_fd: int, confirm_fd: int, close: tuple[int, ...]
) -> None:  # pragma: no cover
    """The forked child: unshare, wait for the maps, make / private, fork the pause process."""
    code = 1
    try:
        for fd in close:
            os.close(fd)
        try:
            sc.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS)
        except OSError as e:
            os.write(out_fd, f"error {e.strerror}\n".encode())
            return
        os.write(out_fd, b"unshared\n")
        if _read_line(in_fd) != "go":
            return  # the parent failed to map IDs; it reports why
        try:
            sc.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        except OSError as e:
            os.write(out_fd, f"error {e.strerror}\n".encode())
            return
        ready_r, ready_w = os.pipe()
        gc = os.fork()
        if gc == 0:
            pause.run_pause(ready_w, confirm_fd)
        os.close(ready_w)
        os.close(confirm_fd)
        if os.read(ready_r, 1) != b"R":
            os.write(out_fd, b"error the pause process did not start\n")
            return
        os.write(out_fd, f"pause {gc}\n".encode())
        code = 0
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.write(out_fd, f"error {e!r}\n".encode())
    finally:
        os._exit(code)
