"""The fake OCI runtime (a shell script) the monitor tests drive: no namespaces needed.

It speaks the OCI runtime CLI (``--root R create --bundle B --pid-file F ID``, ``start``,
``delete``): ``create`` starts ``B/cmd`` in the background (its parent, the fake, exits at once,
so the monitor must be a subreaper to collect the exit code), or fails with a logrus-style line
when ``B/fail`` exists. Each call is appended to ``ROOT/calls``.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from podpy.monitor.spawn import MonitorConfig

FAKE = r"""#!/bin/sh
root=
while [ $# -gt 0 ]; do
  case "$1" in --root) root=$2; shift 2;; --*) shift;; *) break;; esac
done
verb=$1; shift
echo "$verb $*" >> "$root/calls"
case "$verb" in
create)
  while [ $# -gt 1 ]; do
    case "$1" in --bundle) b=$2; shift 2;; --pid-file) pf=$2; shift 2;; *) shift;; esac
  done
  if [ -e "$b/fail" ]; then echo "ERRO[0000] $(cat "$b/fail")" >&2; exit 1; fi
  # like a real runtime, the container is not this shell's child (a shell may reap its background
  # jobs, stealing the exit status from the monitor): `setsid -f` forks it and returns at once, so
  # it is re-parented to the monitor (the subreaper); it writes its own pid before exec'ing the command
  setsid -f sh -c 'echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec sh "$2"' fake "$pf" "$b/cmd"
  while [ ! -s "$pf" ]; do sleep 0.01; done
  echo "$b" > "$root/$1.bundle"
  ;;
start)
  b=$(cat "$root/$1.bundle")
  if [ -e "$b/failstart" ]; then echo "cannot start container $1: $(cat "$b/failstart")" >&2; exit 1; fi
  ;;
delete) ;;
esac
exit 0
"""



@pytest.fixture
def fake(tmp_path: Path):  # type: ignore[no-untyped-def]
    rt = tmp_path / "fake-runtime"
    rt.write_text(FAKE)
    rt.chmod(rt.stat().st_mode | stat.S_IXUSR)
    root = tmp_path / "rtroot"
    root.mkdir()

    def make(script: str, cid: str = "c1", **kw: object) -> MonitorConfig:
        b = tmp_path / f"bundle-{cid}"
        b.mkdir()
        (b / "cmd").write_text(script)
        return MonitorConfig(container_id=cid, bundle=str(b), state_dir=str(tmp_path / f"st-{cid}"),
                             runtime=[str(rt)], runtime_root=str(root), **kw)  # type: ignore[arg-type]  # fmt: skip

    make.root = root  # type: ignore[attr-defined]
    return make
