"""``podpy inspect`` finds every kind of object by name, as podman's generic inspect does: containers,
images, then volumes, networks and pods; a wrong ``--type`` says what it looked for (podman 4.3's words)."""

from __future__ import annotations

import json


def test_generic_inspect_finds_volumes_and_pods(podpy_cli) -> None:  # type: ignore[no-untyped-def]
    assert podpy_cli("volume", "create", "iv1").returncode == 0
    assert podpy_cli("pod", "create", "--name", "ip1").returncode == 0
    assert podpy_cli("network", "create", "in1").returncode == 0
    try:
        r = podpy_cli("inspect", "iv1", "ip1", "in1")
        assert r.returncode == 0, r.stderr
        vol, pod, net = json.loads(r.stdout)
        assert (vol["Name"], vol["Driver"]) == ("iv1", "local")
        assert pod["Name"] == "ip1" and "InfraContainerID" in pod
        assert (net["name"], net["driver"]) == ("in1", "bridge")  # podman: the network's own JSON
        r = podpy_cli("inspect", "--type", "volume", "--format", "{{.Name}}", "iv1")
        assert r.stdout == "iv1\n"
        r = podpy_cli("inspect", "--format", "{{.Name}} {{.Driver}}", "in1")  # Go's field names, as podman
        assert r.stdout == "in1 bridge\n", r.stderr
        for type_, msg in (("volume", "no such volume nosuch"), ("pod", "no such pod nosuch"),
                           ("network", "network nosuch: unable to find network with name or ID nosuch: network not found"),
                           ("all", 'no such object: "nosuch"')):  # fmt: skip
            r = podpy_cli("inspect", "--type", type_, "nosuch")
            assert (r.returncode, r.stdout, r.stderr) == (125, "[]\n", f"Error: inspecting object: {msg}\n")
    finally:
        podpy_cli("pod", "rm", "-f", "ip1")
        podpy_cli("volume", "rm", "iv1")
        podpy_cli("network", "rm", "in1")
    lines = podpy_cli("events", "--stream=false", "--filter", "type=volume").stdout.splitlines()
    assert [ln.split(" UTC ", 1)[1] for ln in lines] == ["volume create iv1", "volume remove iv1"]  # as podman


def test_built_image_healthcheck_and_intermediates(podpy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """podman 4.3: ``image inspect`` has a top-level ``Healthcheck`` ({{.HealthCheck}} prints the Go
    struct); ``images`` hides the untagged images a build made on the way, ``images -a`` shows them."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM 127.0.0.1:5000/busybox:latest\nRUN echo x > /x\nHEALTHCHECK --interval=5s CMD true\n"
    )
    ctx.chmod(0o755)
    r = podpy("build", "-q", "-t", "hc-img", str(ctx))
    assert r.returncode == 0, r.stderr
    (doc,) = json.loads(podpy("image", "inspect", "hc-img").stdout)
    assert doc["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    assert podpy("image", "inspect", "--format", "{{.HealthCheck}}", "hc-img").stdout == "{[CMD-SHELL true] 0s 5s 0s 0}\n"
    base = podpy("image", "inspect", "--format", "{{.HealthCheck}}", "127.0.0.1:5000/busybox:latest")
    assert base.stdout == "<nil>\n"
    listed = podpy("images", "--format", "{{.Repository}}").stdout.split()
    every = podpy("images", "-a", "--format", "{{.Repository}}").stdout.split()
    assert "<none>" not in listed and every.count("<none>") >= 1  # the RUN step's image
