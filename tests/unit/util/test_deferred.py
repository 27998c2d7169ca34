"""``podpy.util.deferred``: the CLI defers ``inspect`` and ``urllib.parse``; code that uses them, in any
import style, still gets the real modules, and nothing on the way to ``run`` loads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TREE = Path(__file__).resolve().parents[3]

PROG = f"""
import json, sys
sys.path.insert(0, {str(TREE)!r})
import podpy.cli.main, pathlib, dataclasses
out = {{"loaded_early": [m for m in ("ast", "ipaddress", "tokenize") if m in sys.modules]}}
out["as_uri"] = pathlib.Path("/a b").as_uri()
from urllib.parse import urlsplit
out["urlsplit"] = urlsplit("http://h/p?q").query
import urllib.parse
out["quote"] = urllib.parse.quote("a b")
out["same"] = urllib.parse is sys.modules["urllib.parse"] and urllib.parse.urlsplit is urlsplit
import inspect
out["signature"] = str(inspect.signature(lambda a, b=1: None))
from inspect import isfunction
out["isfunction"] = isfunction(len)
print(json.dumps(out))
"""


def test_deferred_modules_load_on_first_use_in_every_import_style() -> None:
    r = subprocess.run([sys.executable, "-c", PROG], capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(r.stdout)
    assert out["loaded_early"] == []
    assert out["as_uri"] == "file:///a%20b"
    assert out["urlsplit"] == "q" and out["quote"] == "a%20b" and out["same"] is True
    assert out["signature"] == "(a, b=1)" and out["isfunction"] is False
