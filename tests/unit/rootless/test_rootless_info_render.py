"""`podpy info` rendering: Podman's YAML, JSON keys, Go field names for templates."""

from __future__ import annotations

import json

import pytest

from podpy.cli.system import go_value, render_info, to_yaml
from podpy.cli.template import TemplateError
from podpy.engine.info import uptime_text

DOC = {
    "host": {
        "arch": "amd64",
        "cpus": 2,
        "kernel": "6.18.44-fc-v669",
        "idMappings": {
            "gidmap": [{"container_id": 0, "host_id": 1001, "size": 1}],
            "uidmap": [
                {"container_id": 0, "host_id": 1001, "size": 1},
                {"container_id": 1, "host_id": 100000, "size": 65536},
            ],
        },
        "security": {"rootless": True, "seccompEnabled": True, "capabilities": "CAP_CHOWN,CAP_KILL"},
        "distribution": {"distribution": "debian", "version": "12"},
        "ociRuntime": {"name": "podpy", "version": "a\nb"},
        "cgroupControllers": [],
    },
    "store": {"graphDriverName": "vfs", "graphOptions": {}, "imageStore": {"number": 3}},
    "registries": {},
    "version": {"Version": "0.1.0", "Os": "linux"},
}


def test_yaml_is_sorted_block_style_and_quotes_only_what_yaml_would_misread() -> None:
    text = render_info(DOC, None)
    assert text.startswith("host:\n  arch: amd64\n  cgroupControllers: []\n  cpus: 2\n")
    assert '  distribution:\n    distribution: debian\n    version: "12"\n' in text
    assert "  kernel: 6.18.44-fc-v669\n" in text
    assert (
        "    uidmap:\n    - container_id: 0\n      host_id: 1001\n      size: 1\n    - container_id: 1\n"
        in text
    )
    assert "    version: |-\n      a\n      b\n" in text
    assert "registries: {}\n" in text and "  graphOptions: {}\n" in text
    assert text.endswith("version:\n  Os: linux\n  Version: 0.1.0\n")


@pytest.mark.parametrize(
    ("value", "out"),
    [("true", '"true"'), ("1.5", '"1.5"'), ("x: y", '"x: y"'), ("-a", '"-a"'), ("", '""'), ("a b", "a b"),
     ("/usr/bin/x", "/usr/bin/x"), ("tab\there", '"tab\\there"'), ("0x1f", '"0x1f"')],
)  # fmt: skip
def test_yaml_scalars(value: str, out: str) -> None:
    assert to_yaml({"k": value}) == f"k: {out}"


def test_json_keeps_podmans_keys_and_order() -> None:
    text = render_info(DOC, "json")
    assert json.loads(text) == DOC
    assert text.startswith('{\n  "host": {\n    "arch": "amd64",')


def test_templates_use_go_field_names_and_json_inside_keeps_json_keys() -> None:
    fmt = "{{.Host.Arch}} {{.Host.CPUs}} {{.Host.Security.Rootless}} {{.Host.Security.SECCOMPEnabled}} {{.Host.IDMappings.UIDMap}}"
    assert render_info(DOC, fmt) == "amd64 2 true true [{0 1001 1} {1 100000 65536}]\n"
    assert (
        render_info(DOC, "{{json .Store.ImageStore}} {{.Store.GraphDriverName}} {{.Version.Os}}")
        == '{"number":3} vfs linux\n'
    )
    assert (
        render_info(DOC, "{{.Host.Security.DefaultCapabilities}}|{{.Host.OCIRuntime.Name}}")
        == "CAP_CHOWN,CAP_KILL|podpy\n"
    )
    assert (
        render_info(DOC, "{{.Store.GraphOptions}}|{{range .Host.IDMappings.GIDMap}}{{.HostID}}{{end}}")
        == "map[]|1001\n"
    )
    with pytest.raises(TemplateError, match=r"can't evaluate field Arch in type \*define.StoreInfo"):
        render_info(DOC, "{{.Store.Arch}}")


def test_go_value_leaves_maps_as_maps() -> None:
    v = go_value({"store": {"graphOptions": {"overlay.mount_program": {"Executable": "/x"}}}})
    assert v.Store.GraphOptions == {"overlay.mount_program": {"Executable": "/x"}}


def test_uptime_like_podman() -> None:
    assert uptime_text(50076.9) == "13h 54m 36.00s (Approximately 0.54 days)"
