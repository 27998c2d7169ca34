"""``podpy secret`` and ``run --secret`` as a user types them; outputs and errors as podman 4.3's
(compared with ``tests/env/as-user.sh podman secret …``)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

IMG = "127.0.0.1:5000/busybox:latest"
SID = re.compile(r"[0-9a-f]{25}\n")


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_create_ls_inspect_rm(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "pw"
    f.write_text("hunter2")
    sid = _ok(podpy("secret", "create", "pw", str(f)))
    assert SID.fullmatch(sid)
    sid2 = _ok(podpy("secret", "create", "--label", "a=b", "other", "-", input="abc"))
    sid3 = _ok(podpy("secret", "create", "--env", "fromenv", "MYSECRET", env={"MYSECRET": "s3"}))
    r = podpy("secret", "create", "pw", str(f))
    assert (r.returncode, r.stderr) == (125, "Error: pw: secret name in use\n")
    r = podpy("secret", "create", "empty", "-", input="")
    assert r.returncode == 125 and "secret data must be larger than 0" in r.stderr
    r = podpy("secret", "create", "--driver", "pass", "x", str(f))
    assert r.returncode == 125 and 'unsupported secret driver "pass"' in r.stderr

    lines = _ok(podpy("secret", "ls")).splitlines()
    assert re.fullmatch(r"ID +NAME +DRIVER +CREATED +UPDATED", lines[0])
    assert [ln.split()[:3] for ln in lines[1:]] == [[sid.strip(), "pw", "file"], [sid2.strip(), "other", "file"],
                                                    [sid3.strip(), "fromenv", "file"]]  # fmt: skip
    assert lines[1].endswith("ago  Less than a second ago") or lines[1].endswith("ago")
    assert _ok(podpy("secret", "list", "--format", "{{.Name}}:{{.Driver}}", "--filter", "name=other")) == "other:file\n"
    assert _ok(podpy("secret", "ls", "-q", "--filter", f"id={sid[:6]}")) == sid
    assert _ok(podpy("secret", "ls", "--noheading", "--format", "table {{.Name}}")).split() == ["pw", "other", "fromenv"]

    doc = json.loads(_ok(podpy("secret", "inspect", "other")))
    assert doc[0]["ID"] == sid2.strip() and doc[0]["Spec"]["Name"] == "other"
    assert doc[0]["Spec"]["Labels"] == {"a": "b"} and doc[0]["Spec"]["Driver"]["Name"] == "file"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", doc[0]["CreatedAt"])
    r = podpy("secret", "inspect", "--format", "{{.Spec.Name}} {{.ID}}", "pw", "nosuch")
    assert r.returncode == 125 and r.stdout == f"pw {sid}"
    assert r.stderr == 'Error: inspecting secret: no secret with name or id "nosuch": no such secret\n'

    assert podpy("secret", "exists", "pw").returncode == 0
    assert podpy("secret", "exists", "nosuch").returncode == 1
    r = podpy("secret", "rm", "pw", "nosuch")
    assert (r.returncode, r.stderr) == (125, 'Error: no secret with name or id "nosuch": no such secret\n')
    assert podpy("secret", "exists", "pw").returncode == 0  # nothing removed when one is unknown
    assert _ok(podpy("secret", "rm", "pw")) == sid
    assert _ok(podpy("secret", "rm", "-a")) == sid2 + sid3
    assert _ok(podpy("secret", "ls", "-q")) == ""
    r = podpy("secret", "rm")
    assert r.returncode == 125 and "requires one argument or --all" in r.stderr


def test_run_secret_mount_and_env(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("secret", "create", "pw", "-", input="hunter2"))
    _ok(podpy("secret", "create", "tok", "-", input="abc"))
    script = "ls -ln /run/secrets/pw /tmp/x; cat /run/secrets/pw; echo; echo $TOK; echo $tok; echo x > /run/secrets/pw"
    r = podpy("run", "--rm", "--secret", "pw", "--secret", "tok,type=env,target=TOK", "--secret", "tok,type=env",
              "--secret", "source=pw,target=/tmp/x,mode=0400,uid=1,gid=2", IMG, "sh", "-c", script)  # fmt: skip
    assert r.returncode == 1, r  # the secret is read-only
    out = r.stdout.splitlines()
    assert re.match(r"-r--r--r-- +1 0 +0 +7 .* /run/secrets/pw$", out[0]), out
    assert re.match(r"-r-------- +1 1 +2 +7 .* /tmp/x$", out[1]), out
    assert out[2:] == ["hunter2", "abc", "abc"]
    assert "Read-only file system" in r.stderr

    # the value is in the container, never in what inspect (or kube generate) shows
    _ok(podpy("run", "-d", "--name", "keeps", "--secret", "tok,type=env", IMG, "sleep", "100"))
    assert _ok(podpy("exec", "keeps", "sh", "-c", "echo $tok")) == "abc\n"
    env = _ok(podpy("inspect", "--format", "{{.Config.Env}}", "keeps"))
    assert "tok=" not in env and "abc" not in env
    # removing the secret leaves the container's copy
    _ok(podpy("secret", "rm", "tok"))
    _ok(podpy("restart", "-t", "0", "keeps"))
    assert _ok(podpy("exec", "keeps", "sh", "-c", "echo $tok")) == "abc\n"


def test_run_secret_errors_leave_nothing(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--secret", "nosuch", IMG, "true")
    assert (r.returncode, r.stderr) == (125, 'Error: no secret with name or id "nosuch": no such secret\n')
    assert _ok(podpy("ps", "-a", "-q")) == ""
    for bad, why in (("pw,type=file", 'type must be "mount" or "env"'), ("pw,mode=1777", "mode 1777 is out of range"),
                     ("pw,mode=999", "mode must be an octal number"),
                     ("pw,type=env,uid=1", "uid, gid and mode go with type=mount only"),
                     ("target=/x", "the secret's name is missing"), ("pw,color=red", "invalid --secret")):  # fmt: skip
        r = podpy("run", "--rm", "--secret", bad, IMG, "true")
        assert r.returncode == 125 and why in r.stderr, (bad, r.stderr)
