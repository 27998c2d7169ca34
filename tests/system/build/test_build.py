"""`podpy build` as typed: a multi-stage Containerfile from the local busybox, the result run and
inspected, the layer cache, .containerignore, the errors, and the image under podman."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TREE, _podpy_command

pytestmark = [pytest.mark.rootless, pytest.mark.registry]

CONTAINERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE={base}
ARG GREETING=hi
FROM ${{BASE}} AS builder
ARG GREETING
ENV OUT=/out \\
    # a comment inside a continuation
    MODE="a b"
WORKDIR $OUT
RUN echo "${{GREETING:-none}}-${{UNSET:-dflt}}" > greeting && echo "$MODE" > mode
RUN <<EOT
set -e
echo line1 > heredoc.txt
echo line2 >> heredoc.txt
EOT
RUN ["/bin/sh", "-c", "echo exec > exec.txt"]
COPY --chown=1000:1000 --chmod=0640 dir/ ./dir/
COPY *.conf confs/
COPY logs /out/logs
ADD arch.tar.gz /out/unpacked/
COPY <<EOF /out/inline.txt
inline ${{GREETING}}
EOF
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /out/secret-seen
RUN --mount=type=cache,target=/cache echo c >> /cache/count && wc -l < /cache/count > /out/cache-lines
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /out/tmpfs
RUN --mount=type=bind,source=x1.conf,target=/mnt/x1 cat /mnt/x1 > /out/bound
RUN --network=none ls /sys/class/net > /out/nets

FROM scratch AS empty
COPY --from=builder /out/greeting /g

FROM {base}
LABEL org.example.a=1 "org.example.b"="two words"
MAINTAINER someone@example.com
COPY --from=builder /out /app
COPY --from=1 /g /app/g2
SHELL ["/bin/sh", "-ec"]
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=2 CMD true
ONBUILD RUN echo triggered
WORKDIR /app
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting mode heredoc.txt exec.txt inline.txt secret-seen cache-lines tmpfs bound nets g2; ls -n dir logs unpacked/t confs"]
"""


def make_context(base: Path, busybox: str) -> Path:
    ctx = base / "ctx"
    for rel, text in {
        "dir/a.txt": "a\n", "dir/sub/b.txt": "b\n", "dir/secret.key": "no\n", "logs/keep.log": "keep\n",
        "logs/drop.log": "drop\n", "x1.conf": "x1\n", "x2.conf": "x2\n",
        ".containerignore": "logs\n!logs/keep.log\n**/*.key\n",
    }.items():  # fmt: skip
        f = ctx / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    src = base / "tarsrc" / "t"
    src.mkdir(parents=True)
    (src / "in.txt").write_text("intar\n")
    subprocess.run(["tar", "-czf", str(ctx / "arch.tar.gz"), "-C", str(src.parent), "t"], check=True)
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(base=busybox))
    return ctx


def cache_hits(out: str) -> list[tuple[str, bool]]:
    """(step text, whether it said "Using cache") for every STEP line of a build's output."""
    parts = re.split(r"^(?:\[\d/\d\] )?STEP \d+/\d+: (.*)$", out, flags=re.M)
    return [(parts[i], "--> Using cache" in parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def test_multistage_build_run_cache_and_ignore(
    podpy_cli: Any, testenv: dict[str, Any], tmp_path: Path
) -> None:
    busybox = testenv["images"]["busybox"]["ref"]
    assert podpy_cli("pull", "-q", "--tls-verify=false", busybox).returncode == 0
    ctx = make_context(tmp_path, busybox)
    secret = tmp_path / "tok"
    secret.write_text("topsecret\n")
    iid = tmp_path / "iid"
    args = ["build", "-t", "hb/app", "-t", "hb/app:v2", "--secret", f"id=tok,src={secret}",
            "--build-arg", "GREETING=hello", "--iidfile", str(iid), str(ctx)]  # fmt: skip
    p = podpy_cli(*args)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    image_id = lines[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", image_id)
    assert iid.read_text() == "sha256:" + image_id
    assert "[1/3] STEP 1/17: FROM ${BASE} AS builder" in lines
    assert "COMMIT hb/app" in lines and f"--> {image_id[:11]}" in lines
    assert lines[-3:-1] == [
        "Successfully tagged localhost/hb/app:latest",
        "Successfully tagged localhost/hb/app:v2",
    ]
    assert "Using cache" not in p.stdout

    run = podpy_cli("run", "--rm", "hb/app")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for want in ("hello-dflt\na b\nline1\nline2\nexec\ninline hello\ntopsecret\n1\nx\nx1\nlo\nhello-dflt\n",):
        assert out.startswith(want), out
    # COPY --chown/--chmod kept through COPY --from; the ignore rules: keep.log only, no *.key
    assert re.search(r"-rw-r-----\s+1 1000\s+1000\s+2 .* a\.txt", out), out
    assert "keep.log" in out and "drop.log" not in out and "secret.key" not in out
    assert "in.txt" in out and "x2.conf" in out

    cfg = json.loads(podpy_cli("image", "inspect", "hb/app").stdout)[0]
    c = cfg["Config"]
    assert c["User"] == "1000:1000" and c["WorkingDir"] == "/app" and c["StopSignal"] == "SIGQUIT"
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"][0].startswith("cat greeting")
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}} and c["Volumes"] == {"/data": {}}
    assert c["Labels"] == {"org.example.a": "1", "org.example.b": "two words"}
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in c["Env"]
    assert cfg["Author"] == "someone@example.com"
    assert len(cfg["RootFS"]["Layers"]) == 3  # busybox + two COPY --from
    hist = json.loads(podpy_cli("history", "--format", "json", "hb/app").stdout)
    assert len(hist) == 2 + 14
    nop = [h for h in hist if "#(nop) EXPOSE" in h.get("createdBy", h.get("CreatedBy", ""))]
    assert nop and nop[0].get("size", nop[0].get("Size")) == 0

    # everything cached on a rebuild; -q prints only the ID
    q = podpy_cli(*args[:-1], "-q", str(ctx))
    assert q.returncode == 0, q.stderr
    assert q.stdout.strip() == image_id
    again = podpy_cli(*args)
    assert again.stdout.count("--> Using cache") == 30 and again.stdout.strip().splitlines()[-1] == image_id
    # a changed file invalidates its COPY and every step after it, not the ones before
    (ctx / "x2.conf").write_text("changed\n")
    (ctx / "logs" / "drop.log").write_text("ignored: no effect\n")
    changed = podpy_cli(*args)
    assert changed.returncode == 0, changed.stderr
    out = changed.stdout
    hits = cache_hits(changed.stdout)
    first = [h for s, h in hits[1:17]]  # stage 1 after FROM
    assert first == [
        False,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
        False,
    ], hits  # ARG never says "Using cache"; COPY *.conf on: rebuilt
    assert dict(hits[-14:])['LABEL org.example.a=1 "org.example.b"="two words"'] is True
    assert dict(hits[-14:])["COPY --from=builder /out /app"] is False
    assert changed.stdout.strip().splitlines()[-1] != image_id
    # --no-cache runs every step again
    nc = podpy_cli(
        "build", "--no-cache", "-q", "--target", "empty", "--secret", f"id=tok,src={secret}", str(ctx)
    )
    assert nc.returncode == 0, nc.stderr
    images = podpy_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert "localhost/hb/app:v2" in images


def test_errors_name_the_step(podpy_cli: Any, testenv: dict[str, Any], tmp_path: Path) -> None:
    busybox = testenv["images"]["busybox"]["ref"]
    assert podpy_cli("pull", "-q", "--tls-verify=false", busybox).returncode == 0
    (tmp_path / "f").write_text("x")

    def build(text: str, *extra: str) -> subprocess.CompletedProcess[str]:
        cf = tmp_path / "Cf"
        cf.write_text(text)
        result: subprocess.CompletedProcess[str] = podpy_cli(
            "build", "-t", "hb/bad", "-f", str(cf), *extra, str(tmp_path)
        )
        return result

    p = build(f"FROM {busybox}\nRUN echo ok\nRUN echo out; echo err >&2; exit 3\n")
    assert p.returncode == 3
    assert "STEP 3/3: RUN echo out; echo err >&2; exit 3\nout\n" in p.stdout
    assert p.stderr.endswith(
        'Error: building at STEP "RUN echo out; echo err >&2; exit 3": while running runtime: exit status 3\n'
    )
    assert podpy_cli("image", "exists", "hb/bad").returncode == 1  # nothing half-built is tagged
    p = build(f"FROM {busybox}\n\nFOO bar\n")
    assert (p.returncode, p.stderr) == (125, f'Error: {tmp_path}/Cf:3: unknown instruction: "FOO"\n')
    p = build(f"FROM {busybox}\nENV\n")
    assert (p.returncode, p.stderr) == (125, f"Error: {tmp_path}/Cf:2: ENV requires at least one argument\n")
    p = build(f"FROM {busybox}\nCOPY ../x /x\n")
    assert p.returncode == 125 and 'building at STEP "COPY ../x /x"' in p.stderr
    assert "possible escaping context directory" in p.stderr
    p = build(f"FROM {busybox}\nCOPY nothere /x\n")
    assert p.returncode == 125
    assert (
        f'checking on sources under "{tmp_path}": copier: stat: "/nothere": no such file or directory'
        in p.stderr
    )
    p = build(f"FROM {busybox}\nRUN --mount=type=ssh true\n")
    assert p.returncode == 125 and "type=ssh is not supported" in p.stderr
    p = build(f"FROM {busybox}\n", "--platform", "linux/s390x")
    assert p.returncode == 125 and "is not supported" in p.stderr
    assert podpy_cli("image", "exists", "hb/bad").returncode == 1


def test_stdin_sources_and_podman_interop(
    podpy_cli: Any, podpy_root: Any, testenv: dict[str, Any], tmp_path: Path
) -> None:
    """-f - and a context tar on stdin; the built image saved, loaded and run by podman."""
    busybox = testenv["images"]["busybox"]["ref"]
    assert podpy_cli("pull", "-q", "--tls-verify=false", busybox).returncode == 0
    ctx = tmp_path / "c"
    ctx.mkdir()
    (ctx / "f.txt").write_text("data\n")
    cf = (
        f"FROM {busybox}\nRUN <<EOF\n#!/bin/busybox sh\necho built > /b\nrm /bin/vi\nEOF\n"
        "COPY f.txt /f.txt\nCMD cat /b /f.txt; test ! -e /bin/vi\n"
    )
    p = podpy_cli(
        "build", "-q", "--squash", "--format", "docker", "-t", "hb/interop", "-f", "-", str(ctx), input=cf
    )
    assert p.returncode == 0, p.stderr
    cfg = json.loads(podpy_cli("image", "inspect", "hb/interop").stdout)[0]
    assert len(cfg["RootFS"]["Layers"]) == 2 and cfg["ManifestType"].startswith("application/vnd.docker")
    (ctx / "Containerfile").write_text(cf)
    tar = subprocess.run(["tar", "-C", str(ctx), "-c", "."], capture_output=True, check=True).stdout
    env = {**os.environ, "PYTHONPATH": str(TREE), "XDG_CONFIG_HOME": str(podpy_root.config_home)}
    fromtar = subprocess.run([*_podpy_command(), *podpy_root.args, "build", "-q", "-"], input=tar,
                             capture_output=True, env=env, check=False)  # fmt: skip
    assert fromtar.returncode == 0, fromtar.stderr
    assert re.fullmatch(rb"[0-9a-f]{64}\n", fromtar.stdout)
    archive = tmp_path / "img.tar"
    assert podpy_cli("save", "-o", str(archive), "hb/interop").returncode == 0
    root = tmp_path / "pm"
    runroot = Path(tempfile.mkdtemp(prefix="hbpm-"))
    pm = ["podman", "--root", str(root), "--runroot", str(runroot)]
    try:
        load = subprocess.run([*pm, "load", "-i", str(archive)], capture_output=True, text=True, check=False)
        assert load.returncode == 0, load.stderr
        run = subprocess.run([*pm, "run", "--rm", "--network", "none", "localhost/hb/interop"],
                             capture_output=True, text=True, check=False)  # fmt: skip
        assert (run.returncode, run.stdout) == (0, "built\ndata\n"), run.stderr
    finally:
        subprocess.run([*pm, "unshare", "rm", "-rf", str(root)], capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(runroot)], check=False)


def test_flags_reach_the_image(podpy_cli: Any, testenv: dict[str, Any], tmp_path: Path) -> None:
    """--layers=false, --label, --annotation, --env, --build-arg-file, --ignorefile, --network none, Dockerfile."""
    busybox = testenv["images"]["busybox"]["ref"]
    assert podpy_cli("pull", "-q", "--tls-verify=false", busybox).returncode == 0
    ctx = tmp_path / "c"
    ctx.mkdir()
    (ctx / "keep.txt").write_text("k\n")
    (ctx / "skip.txt").write_text("s\n")
    (ctx / "Dockerfile").write_text(
        f'FROM {busybox}\nARG FROMFILE\nRUN echo "$FROMFILE $E1" > /args; ls /sys/class/net > /nets\n'
        "COPY *.txt /in/\nUSER 0\n"
    )
    ign = tmp_path / "ignore"
    ign.write_text("skip.txt\n")
    argfile = tmp_path / "args.conf"
    argfile.write_text("# comment\nFROMFILE=ff\n")
    p = podpy_cli("build", "--layers=false", "--label", "k=v", "--annotation", "a=b", "--env", "E1=v1",
                  "--build-arg-file", str(argfile), "--ignorefile", str(ign), "--network", "none",
                  "-t", "hb/flags", str(ctx))  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "-->" not in p.stdout.split("COMMIT")[0]  # no intermediate images without --layers
    cfg = json.loads(podpy_cli("image", "inspect", "hb/flags").stdout)[0]
    assert cfg["Labels"] == {"k": "v"} and "E1=v1" in cfg["Config"]["Env"]
    run = podpy_cli("run", "--rm", "hb/flags", "sh", "-c", "cat /args /nets; ls /in")
    assert run.stdout == "ff v1\nlo\nkeep.txt\n", run.stderr
