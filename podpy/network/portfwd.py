"""podpy's rootlessport: published TCP ports forwarded from the host into the container's namespace.

Podman's default ``port_handler=rootlesskit``: a process in the host's network namespace accepts on
the host port and, per connection, connects from INSIDE the container's namespace to the
container's slirp4netns address (10.0.2.100:CTRPORT, so the container sees its peer as 10.0.2.100,
as with Podman), then copies both ways. The bytes never go through slirp4netns' user-mode TCP stack:
two kernel TCP connections joined by ``splice`` through a pipe, which is what makes it fast.

The CLI binds the host ports itself (so "address already in use" is its error, before the container
starts) and passes the listening sockets as inherited fds::

    python -S -E -c BOOT ROOT podpy-portfwd NETNS CTR_IP FD:CTR_PORT [FD:CTR_PORT ...]

``NETNS`` on the command line is what ``helper.serves``/``helper.stop`` look for. The process is a
fresh interpreter importing only this module and the syscall seam (it lives as long as the
container). One thread is ``setns``'d into the container's namespace and creates the outgoing
sockets (a socket belongs to the namespace it was created in; ``connect`` may then happen in any
thread); the main thread stays in the host's namespace and accepts. Per connection two threads
splice, one per direction; a clean EOF is passed on as a half-close (``shutdown(SHUT_WR)``), an
error ends both directions. SIGTERM ends it at once (the default action).
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading

WORD = "podpy-portfwd"  # on its command line: how tests and cleanups recognise it
CHUNK = 1 << 20  # bytes per splice, and the pipe's size (fs.pipe-max-size is 1 MiB by default)
CONNECT_TIMEOUT = 30.0
F_SETPIPE_SZ = 1031
_BOOT = "import sys;sys.path.insert(0,sys.argv.pop(1));from podpy.network.portfwd import main;sys.exit(main(sys.argv[1:]))"
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def argv(python: str, netns: str, ctr_ip: str, forwards: list[tuple[int, int]]) -> list[str]:
    """The forwarder's command line; ``forwards``: (listening fd, container port) pairs."""
    return [python, "-S", "-E", "-c", _BOOT, _ROOT, WORD, netns, ctr_ip, *(f"{fd}:{port}" for fd, port in forwards)]


def start(netns: str, ctr_ip: str, listeners: list[tuple[socket.socket, int]], log_path: str) -> int:
    """Start the forwarder (detached, see ``helper.spawn``) for ``listeners`` [(listening socket,
    container port)] of the container whose namespace is ``netns``; its pid. No readiness to wait
    for: the sockets already listen, connections queue until it accepts."""
    from podpy.network import helper

    fds = [(s.fileno(), port) for s, port in listeners]
    return helper.spawn(argv(sys.executable, netns, ctr_ip, fds), log_path=log_path, pass_fds=tuple(fd for fd, _ in fds))


def parse_args(args: list[str]) -> tuple[str, str, list[tuple[int, int]]]:
    """``podpy-portfwd NETNS CTR_IP FD:PORT...`` -> (netns, ctr_ip, [(fd, port)]); ValueError if malformed."""
    if len(args) < 4 or args[0] != WORD:
        raise ValueError(f"usage: {WORD} NETNS CTR_IP FD:PORT [FD:PORT ...]")
    forwards = []
    for item in args[3:]:
        fd, colon, port = item.partition(":")
        if not colon or not fd.isdigit() or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError(f"bad forward {item!r}: want FD:PORT")
        forwards.append((int(fd), int(port)))
    return args[1], args[2], forwards


def _log(msg: str) -> None:
    try:
        print(f"{WORD}: {msg}", file=sys.stderr, flush=True)
    except OSError:
        pass  # the log file went away: keep forwarding


class Netns:
    """A thread living in the container's network namespace that makes sockets there on request."""

    def __init__(self, path: str) -> None:
        self._cond = threading.Condition()
        self._wanted = 0
        self._made: list[socket.socket | OSError] = []
        self._ready = threading.Event()
        self.error: OSError | None = None
        threading.Thread(target=self._serve, args=(path,), name="netns", daemon=True).start()
        self._ready.wait()
        if self.error is not None:
            raise self.error

    def _serve(self, path: str) -> None:
        from podpy.util import syscalls

        try:
            syscalls.get().setns_path(path, syscalls.CLONE_NEWNET)  # this thread only: setns is per thread
        except OSError as e:
            self.error = e
        self._ready.set()
        if self.error is not None:
            return
        with self._cond:
            while True:
                while not self._wanted:
                    self._cond.wait()
                self._wanted -= 1
                try:
                    made: socket.socket | OSError = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                except OSError as e:
                    made = e
                self._made.append(made)
                self._cond.notify_all()

    def socket(self) -> socket.socket:
        """A new TCP socket in the container's namespace (connect it from any thread)."""
        with self._cond:
            self._wanted += 1
            self._cond.notify_all()
            while not self._made:
                self._cond.wait()
            made = self._made.pop()
        if isinstance(made, OSError):
            raise made
        return made


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        import fcntl

        fcntl.fcntl(w, F_SETPIPE_SZ, CHUNK)
    except OSError:
        pass  # over the user's pipe budget: the default 64 KiB pipe still works, only slower
    return r, w


def _copy(src: socket.socket, dst: socket.socket) -> None:
    """recv/sendall: for sockets splice refuses."""
    while data := src.recv(CHUNK):
        dst.sendall(data)


def pump(src: socket.socket, dst: socket.socket) -> bool:
    """Copy ``src`` to ``dst`` until EOF (then half-close ``dst``): True; False after an error."""
    s, d = src.fileno(), dst.fileno()
    try:
        r, w = _pipe()
    except OSError as e:  # out of fds: this connection ends, the forwarder goes on
        _log(f"forwarding: {e}")
        return False
    moved = 0
    try:
        while True:
            try:
                n = os.splice(s, w, CHUNK, flags=os.SPLICE_F_MOVE)
            except OSError as e:
                if e.errno != errno.EINVAL or moved:
                    raise
                _copy(src, dst)
                break
            if n == 0:
                break
            moved += n
            while n:
                n -= os.splice(r, d, n, flags=os.SPLICE_F_MOVE)
        dst.shutdown(socket.SHUT_WR)
        return True
    except OSError as e:
        if e.errno not in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.EBADF):
            _log(f"forwarding: {e}")
        return False
    finally:
        os.close(r)
        os.close(w)


def _both_ways(client: socket.socket, ctr: socket.socket) -> None:
    """The other direction in a second thread; both sockets closed once both are done."""
    done = threading.Event()

    def back() -> None:
        try:
            if not pump(ctr, client):
                _abort(client, ctr)
        finally:
            done.set()

    try:
        threading.Thread(target=back, name="pump", daemon=True).start()
    except RuntimeError as e:
        _log(f"forwarding: {e}")
        client.close()
        ctr.close()
        return
    if not pump(client, ctr):
        _abort(client, ctr)
    done.wait()
    client.close()
    ctr.close()


def _abort(*socks: socket.socket) -> None:
    """An error in one direction ends the other too (its blocked splice returns)."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve_connection(client: socket.socket, ns: Netns, ctr_ip: str, ctr_port: int) -> None:
    """One accepted connection: connect into the container, then copy both ways. A refused or failed
    connect closes the client's connection (it sees EOF); the forwarder carries on."""
    try:
        ctr = ns.socket()
    except OSError as e:
        _log(f"socket in the container's namespace: {e}")
        client.close()
        return
    try:
        ctr.settimeout(CONNECT_TIMEOUT)
        ctr.connect((ctr_ip, ctr_port))
        ctr.settimeout(None)
    except OSError as e:
        if e.errno != errno.ECONNREFUSED:  # nothing listening yet: the usual case, not worth a line
            _log(f"connect {ctr_ip}:{ctr_port}: {e}")
        ctr.close()
        client.close()
        return
    _both_ways(client, ctr)


def _serving_thread(client: socket.socket, ns: Netns, ctr_ip: str, ctr_port: int) -> None:
    try:
        serve_connection(client, ns, ctr_ip, ctr_port)
    except Exception as e:  # never let one connection end the forwarder
        _log(f"connection to port {ctr_port}: {e!r}")
        client.close()


def serve(listeners: list[tuple[socket.socket, int]], ns: Netns, ctr_ip: str) -> None:
    """Accept on every listening socket forever; a thread per connection."""
    import selectors

    sel = selectors.DefaultSelector()
    for sock, port in listeners:
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, port)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                client, _addr = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue
            except OSError as e:  # EMFILE and friends: say so, give the others a moment to finish
                _log(f"accept: {e}")
                threading.Event().wait(0.1)
                continue
            client.setblocking(True)
            try:
                threading.Thread(target=_serving_thread, args=(client, ns, ctr_ip, key.data), name="conn",
                                 daemon=True).start()  # fmt: skip
            except RuntimeError as e:  # no more threads: this connection is refused, not the next ones
                _log(f"connection to port {key.data}: {e}")
                client.close()


def main(args: list[str]) -> int:
    try:
        netns, ctr_ip, forwards = parse_args(args)
    except ValueError as e:
        _log(str(e))
        return 2
    threading.stack_size(512 << 10)  # many connections, shallow stacks
    try:
        listeners = [(socket.socket(fileno=fd), port) for fd, port in forwards]
        ns = Netns(netns)
    except OSError as e:
        _log(f"{netns}: {e}")
        return 1
    serve(listeners, ns, ctr_ip)
    return 0
