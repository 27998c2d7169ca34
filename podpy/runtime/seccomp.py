"""Seccomp: Podman's profile -> OCI ``linux.seccomp`` -> a classic-BPF filter podpy's runtime installs.

* :func:`load_default_profile` reads the containers-common profile Podman uses
  (``/usr/share/containers/seccomp.json``, ``/etc/containers/seccomp.json`` first).
* :func:`resolve_profile` (pure) applies its ``includes``/``excludes`` for the container's
  capabilities and the native architecture, as containers/common does, giving the OCI form.
* :func:`compile_filter` (pure) turns the OCI form into BPF for x86_64. Per syscall, rules with
  argument conditions are tried first (in profile order), then the unconditional one; the first
  match decides; no match means the default action. Other architectures (i386, x32 syscall
  numbers) get the default action, which with Podman's profile is ENOSYS.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from podpy.runtime.syscall_table import X86_64
from podpy.util.errors import PodpyError

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

PROFILE_PATHS = (Path("/etc/containers/seccomp.json"), Path("/usr/share/containers/seccomp.json"))

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_AND_K = 0x54
_RET_K = 0x06

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_ERRNO_NAMES = {"EPERM": 1, "ENOSYS": 38, "EINVAL": 22, "EACCES": 13}


def load_default_profile() -> dict[str, Any] | None:
    """Podman's default profile from containers-common, or None when the host has none."""
    for p in PROFILE_PATHS:
        try:
            with open(p, "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            continue
        except ValueError as e:
            raise PodpyError(f"{p}: invalid seccomp profile: {e}") from None
    return None


def load_profile(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except OSError as e:
        raise PodpyError(f"opening seccomp profile {path}: {e.strerror}") from None
    except ValueError as e:
        raise PodpyError(f"{path}: invalid seccomp profile: {e}") from None
    if not isinstance(data, dict) or "defaultAction" not in data:
        raise PodpyError(f"{path}: not a seccomp profile (no defaultAction)")
    return data


def resolve_profile(profile: dict[str, Any], caps: list[str], machine: str | None = None) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` object for a container with bounding set ``caps``."""
    arch = _GO_ARCH.get(machine or os.uname().machine, machine or os.uname().machine)
    capset = set(caps)
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    default_errno = profile.get("defaultErrnoRet")
    if default_errno is None and profile.get("defaultErrno"):
        default_errno = _ERRNO_NAMES.get(profile["defaultErrno"])
    if default_errno is not None:
        out["defaultErrnoRet"] = default_errno
    arches: list[str] = []
    native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}.get(arch)
    for m in profile.get("archMap") or []:
        if m.get("architecture") == native:
            arches = [m["architecture"], *(m.get("subArchitectures") or [])]
    if not arches and profile.get("architectures"):
        arches = list(profile["architectures"])
    if arches:
        out["architectures"] = arches
    rules = []
    for call in profile.get("syscalls") or []:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if exc.get("arches") and arch in exc["arches"]:
            continue
        if exc.get("caps") and capset & set(exc["caps"]):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= capset:
            continue
        names = list(call.get("names") or ([call["name"]] if call.get("name") else []))
        if not names:
            continue
        rule: dict[str, Any] = {"names": names, "action": call["action"]}
        if call.get("args"):
            rule["args"] = [
                {k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a} for a in call["args"]
            ]
        if call["action"] == "SCMP_ACT_ERRNO":
            rule["errnoRet"] = call.get("errnoRet", 1)
        rules.append(rule)
    out["syscalls"] = rules
    return out


def _ret(action: str, errno_ret: int | None, default_errno: int) -> int:
    if action == "SCMP_ACT_ALLOW":
        return RET_ALLOW
    if action == "SCMP_ACT_ERRNO":
        return RET_ERRNO | ((errno_ret if errno_ret is not None else default_errno) & 0xFFFF)
    if action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return RET_KILL_THREAD
    if action == "SCMP_ACT_KILL_PROCESS":
        return RET_KILL_PROCESS
    if action == "SCMP_ACT_TRAP":
        return RET_TRAP
    if action == "SCMP_ACT_LOG":
        return RET_LOG
    raise PodpyError(f"seccomp action {action} is not supported by podpy's runtime")


def _insn(code: int, jt: int = 0, jf: int = 0, k: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k & 0xFFFFFFFF)


def _arg_offsets(index: int) -> tuple[int, int]:
    if not 0 <= index <= 5:
        raise PodpyError(f"seccomp: argument index {index} out of range")
    low = 16 + 8 * index
    return low, low + 4  # little-endian: low word first


_Op = tuple[str, int, "int | str", "int | str"]  # (kind, k, jt, jf); "FAIL": jump to the next rule


def _condition(cond: dict[str, Any]) -> list[_Op]:
    """Instructions for one 64-bit argument test (runtime-spec semantics, MASKED_EQ: arg & value == valueTwo)."""
    lo_off, hi_off = _arg_offsets(int(cond["index"]))
    op = cond["op"]
    v = int(cond.get("value", 0)) & 0xFFFFFFFFFFFFFFFF
    v2 = int(cond.get("valueTwo", 0)) & 0xFFFFFFFFFFFFFFFF
    hi, lo = v >> 32, v & 0xFFFFFFFF
    if op == "SCMP_CMP_EQ":
        return [("ld", hi_off, 0, 0), ("jeq", hi, 0, "FAIL"), ("ld", lo_off, 0, 0), ("jeq", lo, 0, "FAIL")]
    if op == "SCMP_CMP_NE":
        # high halves differ: pass (skip the low test); both halves equal: FAIL
        return [("ld", hi_off, 0, 0), ("jeq", hi, 0, 2), ("ld", lo_off, 0, 0), ("jeq", lo, "FAIL", 0)]
    if op == "SCMP_CMP_MASKED_EQ":
        return [
            ("ld", hi_off, 0, 0), ("and", hi, 0, 0), ("jeq", v2 >> 32, 0, "FAIL"),
            ("ld", lo_off, 0, 0), ("and", lo, 0, 0), ("jeq", v2 & 0xFFFFFFFF, 0, "FAIL"),
        ]  # fmt: skip
    raise PodpyError(f"seccomp comparison {op} is not supported by podpy's runtime")


def _rule_block(
    rules: list[tuple[list[dict[str, Any]], int]], final_ret: int
) -> list[tuple[int, int, int, int]]:
    """Code for one syscall: conditional rules in order (first match wins), then ``final_ret``."""
    out: list[tuple[int, int, int, int]] = []
    for conds, ret in rules:
        body: list[_Op] = []
        for c in conds:
            body += _condition(c)
        body.append(("ret", ret, 0, 0))
        n = len(body)
        for i, (kind, k, jt, jf) in enumerate(body):
            if kind == "ld":
                out.append(_insn(_LD_W_ABS, k=k))
            elif kind == "and":
                out.append(_insn(_AND_K, k=k))
            elif kind == "ret":
                out.append(_insn(_RET_K, k=k))
            else:
                to_next_rule = n - i - 1
                t = to_next_rule if jt == "FAIL" else int(jt)
                f = to_next_rule if jf == "FAIL" else int(jf)
                if max(t, f) > 255:
                    raise PodpyError("seccomp: rule too large to compile")
                out.append(_insn(_JEQ_K, t, f, k))
    out.append(_insn(_RET_K, k=final_ret))
    return out


def compile_filter(seccomp: dict[str, Any]) -> bytes:
    """Classic BPF (packed ``struct sock_filter``) for an OCI ``linux.seccomp`` object on x86_64."""
    default_errno = int(seccomp.get("defaultErrnoRet", 1))
    default_ret = _ret(seccomp["defaultAction"], seccomp.get("defaultErrnoRet"), default_errno)
    per_nr: dict[int, tuple[list[tuple[list[dict[str, Any]], int]], int | None]] = {}
    for rule in seccomp.get("syscalls") or []:
        ret = _ret(rule["action"], rule.get("errnoRet"), default_errno)
        for name in rule.get("names") or []:
            nr = X86_64.get(name)
            if nr is None:
                continue  # not a syscall on this architecture (e.g. chown32): libseccomp skips it too
            conds, uncond = per_nr.setdefault(nr, ([], None))
            if rule.get("args"):
                conds.append((rule["args"], ret))
            elif uncond is None:
                per_nr[nr] = (conds, ret)
    prog: list[tuple[int, int, int, int]] = [
        _insn(_LD_W_ABS, k=4),  # seccomp_data.arch
        _insn(_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _insn(_RET_K, k=default_ret),
        _insn(_LD_W_ABS, k=0),  # seccomp_data.nr
        _insn(_JGE_K, 0, 1, X32_SYSCALL_BIT),
        _insn(_RET_K, k=default_ret),
    ]
    for nr in sorted(per_nr):
        conds, uncond = per_nr[nr]
        block = _rule_block(conds, uncond if uncond is not None else default_ret)  # always ends in a ret
        if len(block) > 255:
            raise PodpyError("seccomp: too many rules for one syscall")
        prog.append(_insn(_JEQ_K, 0, len(block), nr))
        prog += block
    prog.append(_insn(_RET_K, k=default_ret))
    if len(prog) > 4096:
        raise PodpyError(f"seccomp filter too long ({len(prog)} instructions)")
    return b"".join(struct.pack("=HBBI", *i) for i in prog)


def native_supported() -> bool:
    return os.uname().machine == "x86_64" and os.uname().sysname == "Linux"
