"""YAML written the way Podman writes Kubernetes YAML (Go's ``sigs.k8s.io/yaml``): keys sorted, block style,
sequences not indented under their key, double quotes where a string needs quotes, multi-line strings as
literal blocks, no line folding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HEADER = """# Save the output of this file and use kubectl create -f to import
# it into Kubernetes.
#
# Created with podpy-{version}
"""


_DUMPER: list[Any] = []


def _dumper() -> Any:
    """PyYAML's pure-Python SafeDumper (the C emitter decides quoting itself), with Go's quoting."""
    if _DUMPER:
        return _DUMPER[0]
    import yaml

    class Dumper(yaml.SafeDumper):
        def choose_scalar_style(self) -> Any:
            style = super().choose_scalar_style()
            return '"' if style == "'" else style

        def ignore_aliases(self, data: Any) -> bool:
            return True  # no &anchors: every document stands alone, as Go writes it

    def str_rep(dumper: Any, data: str) -> Any:
        if "\n" in data:
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", data)

    Dumper.add_representer(str, str_rep)
    _DUMPER.append(Dumper)
    return Dumper


def dump(doc: dict[str, Any]) -> str:
    """One document."""
    import yaml

    return str(yaml.dump(doc, Dumper=_dumper(), sort_keys=True, default_flow_style=False, allow_unicode=True,
                         width=1 << 30))  # fmt: skip


def dump_all(docs: Sequence[dict[str, Any]], version: str) -> str:
    """Podman's file: the header, then the documents separated by ``---``."""
    return HEADER.format(version=version) + "---\n".join(dump(d) for d in docs)
