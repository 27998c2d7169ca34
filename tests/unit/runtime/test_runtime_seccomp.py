"""Seccomp: profile resolution matches Podman's, and the compiled BPF decides like the rules say.

The BPF is checked with a small classic-BPF interpreter over synthetic ``seccomp_data``, and
once for real in a forked child (filter installed with no_new_privs).
"""

from __future__ import annotations

import errno
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from podpy.runtime import seccomp
from podpy.runtime.syscall_table import X86_64
from podpy.spec.container import DEFAULT_CAPABILITIES
from podpy.util import syscalls

DATA = Path(__file__).parent / "data"
PROFILE = Path("/usr/share/containers/seccomp.json")


def run_bpf(prog: bytes, nr: int, args: tuple[int, ...] = (), arch: int = seccomp.AUDIT_ARCH_X86_64) -> int:
    insns = [struct.unpack("=HBBI", prog[i : i + 8]) for i in range(0, len(prog), 8)]
    a6 = list(args) + [0] * (6 - len(args))
    data = struct.pack("=iIQ6Q", nr, arch, 0, *a6)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x54:
            acc &= k
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x35:
            pc += jt if acc >= k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown opcode {code:#x}")


ERRNO = seccomp.RET_ERRNO
ALLOW = seccomp.RET_ALLOW


@pytest.fixture
def resolved() -> dict[str, Any]:
    if not PROFILE.exists():
        pytest.skip("containers-common's seccomp.json is not installed")
    return seccomp.resolve_profile(json.loads(PROFILE.read_text()), list(DEFAULT_CAPABILITIES), "x86_64")


def test_resolution_matches_podman(resolved: dict[str, Any]) -> None:
    want = json.loads((DATA / "podman-4.3.1-rootless-c1-seccomp.json").read_text())
    assert resolved["defaultAction"] == want["defaultAction"] and resolved["defaultErrnoRet"] == 38
    assert resolved["architectures"] == want["architectures"]

    def norm(rules: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (tuple(sorted(r["names"])), r["action"], r.get("errnoRet"),
             json.dumps([{k: v for k, v in a.items() if v or k == "value"} for a in r.get("args") or []], sort_keys=True))
            for r in rules
        )  # fmt: skip

    assert norm(resolved["syscalls"]) == norm(want["syscalls"])


def test_compiled_default_profile_decisions(resolved: dict[str, Any]) -> None:
    prog = seccomp.compile_filter(resolved)
    assert len(prog) % 8 == 0 and len(prog) // 8 < 4096
    nr = X86_64
    assert run_bpf(prog, nr["read"]) == ALLOW
    assert run_bpf(prog, nr["execve"]) == ALLOW
    assert run_bpf(prog, nr["kexec_load"]) == ERRNO | errno.EPERM  # explicit ERRNO(1) rule
    assert run_bpf(prog, nr["bpf"]) == ERRNO | errno.EPERM  # needs CAP_SYS_ADMIN
    assert run_bpf(prog, nr["chroot"]) == ALLOW  # CAP_SYS_CHROOT is in the default set
    assert run_bpf(prog, 449 + 100) == ERRNO | errno.ENOSYS  # unknown syscall: default action
    assert run_bpf(prog, nr["read"] | seccomp.X32_SYSCALL_BIT) == ERRNO | errno.ENOSYS
    assert run_bpf(prog, 3, arch=0x40000003) == ERRNO | errno.ENOSYS  # i386
    # personality: only the listed values
    assert run_bpf(prog, nr["personality"], (0,)) == ALLOW
    assert run_bpf(prog, nr["personality"], (0xFFFFFFFF,)) == ALLOW
    assert run_bpf(prog, nr["personality"], (0x0040000,)) == ERRNO | errno.ENOSYS
    assert run_bpf(prog, nr["personality"], (0x1_00000000,)) == ERRNO | errno.ENOSYS  # high word checked
    # socket(AF_NETLINK, *, NETLINK_AUDIT) is EINVAL without CAP_AUDIT_WRITE; other sockets allowed
    assert run_bpf(prog, nr["socket"], (16, 3, 9)) == ERRNO | errno.EINVAL
    assert run_bpf(prog, nr["socket"], (16, 3, 0)) == ALLOW
    assert run_bpf(prog, nr["socket"], (2, 1, 9)) == ALLOW


def test_masked_eq_and_ne() -> None:
    prof = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["dup"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 1, "value": 5, "op": "SCMP_CMP_NE"}]},
        ],
    }  # fmt: skip
    prog = seccomp.compile_filter(prof)
    # rule: ERRNO when none of the namespace flags is set (mask & arg == 0)
    assert run_bpf(prog, X86_64["clone"], (0x11,)) == ERRNO | 1
    assert run_bpf(prog, X86_64["clone"], (0x10000000,)) == ALLOW
    assert run_bpf(prog, X86_64["dup"], (0, 5)) == ALLOW
    assert run_bpf(prog, X86_64["dup"], (0, 6)) == ERRNO | 13
    assert run_bpf(prog, X86_64["dup"], (0, 5 | 1 << 32)) == ERRNO | 13


def test_unsupported_action_refused() -> None:
    from podpy.util.errors import PodpyError

    with pytest.raises(PodpyError, match="SCMP_ACT_NOTIFY"):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_NOTIFY"})
    with pytest.raises(PodpyError, match="SCMP_CMP_GT"):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                              "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"}]}]})  # fmt: skip


def test_filter_really_installs() -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS}]}  # fmt: skip
    prog = seccomp.compile_filter(prof)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            sc = syscalls.get()
            sc.set_no_new_privs()
            sc.seccomp_set_filter(prog)
            try:
                os.mkdir("/tmp/podpy-seccomp-test-should-not-exist")
                os.write(w, b"created")
            except OSError as e:
                os.write(w, str(e.errno).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    out = os.read(r, 100)
    os.close(r)
    assert out == str(errno.EROFS).encode()
