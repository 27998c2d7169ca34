"""The Go-template renderer against outputs recorded from podman 4.3.1 on this machine."""

from __future__ import annotations

import datetime as dt

import pytest

from podpy.cli.template import (
    Record,
    Template,
    TemplateError,
    go_json,
    go_sprintf,
    headers_from_fields,
    is_json,
    normalize_format,
    render,
    render_one,
    tabwrite,
)


class Rep:
    """Like podman's images.imageReporter: fields plus methods."""

    go_type = "images.imageReporter"

    def __init__(self, tag: str, repo: str) -> None:
        self.Repository = repo
        self.Tag = tag
        self.Labels = {"a": "b"}
        self.Names = ["localhost/test:1", "localhost/foo/bar:x"]
        self.Dangling = False

    def ID(self) -> str:  # noqa: N802 - Go method name
        return "4d23d2adc422"


ROWS = [Rep("1", "localhost/test"), Rep("x", "localhost/foo/bar")]
HDR = headers_from_fields(
    ["Repository", "Tag", "ID", "Labels", "Names", "ReadOnly"], {"ID": "IMAGE ID", "ReadOnly": "R/O"}
)


def r(fmt: str) -> str:
    return render(fmt, ROWS, name="images", headers=HDR)


@pytest.mark.parametrize(
    ("fmt", "want"),
    [
        (
            "table {{.ID}} {{.Repository}}",
            "IMAGE ID      REPOSITORY\n4d23d2adc422  localhost/test\n4d23d2adc422  localhost/foo/bar\n",
        ),
        ("{{.ID}}\\t{{.Tag}} x", "4d23d2adc422\t1 x\n4d23d2adc422\tx x\n"),
        ("{{json .Labels}}", '{"a":"b"}\n{"a":"b"}\n'),
        ("{{.Labels}}", "map[a:b]\nmap[a:b]\n"),
        ('{{index .Labels "a"}}|{{index .Labels "zz"}}|', "b||\nb||\n"),
        (
            '{{printf "%-20s|" .Tag}}{{lower .Repository}}{{upper .Tag}}',
            "1                   |localhost/test1\nx                   |localhost/foo/barX\n",
        ),
        ("{{truncate .ID 3}}", "4d2\n4d2\n"),
        ("{{range .Names}}<{{.}}>{{end}}", "<localhost/test:1><localhost/foo/bar:x>\n" * 2),
        ("table", "table\ntable\n"),
        ("table {{.ID}}\\n{{.Tag}}", "IMAGE ID\nTAG\n4d23d2adc422\n1\n4d23d2adc422\nx\n"),
        ('{{"\\t"}}|{{.Tag | upper | printf "%q"}}', '\t|"1"\n\t|"X"\n'),
        (
            'table {{printf "%s x" .Tag}} {{ .ID }}',
            "TAG         x           IMAGE ID\n1           x           4d23d2adc422\nx           x           4d23d2adc422\n",
        ),
        ("table  {{.ID}}", "            IMAGE ID\n            4d23d2adc422\n            4d23d2adc422\n"),
        ("{{.ID}}\\n\\n", "4d23d2adc422\n\n4d23d2adc422\n\n"),
        ("{{range .}}{{.ID}}{{end}}", "4d23d2adc4224d23d2adc422\n"),
        ("{{/* c */}}{{- .ID -}} x", "4d23d2adc422x\n4d23d2adc422x\n"),
        ('{{if eq .Tag "1"}}one{{else if eq .Tag "x"}}ex{{end}}', "one\nex\n"),
        ("{{with .Labels}}{{.a}}{{end}}", "b\nb\n"),
        (
            '{{len .Names}} {{slice .ID 0 4}} {{join .Names ","}} {{pad .Tag 2 3}}|',
            "2 4d23 localhost/test:1,localhost/foo/bar:x   1   |\n2 4d23 localhost/test:1,localhost/foo/bar:x   x   |\n",
        ),
        (
            "{{json .Names}} {{.Tag | json}}",
            '["localhost/test:1","localhost/foo/bar:x"] "1"\n["localhost/test:1","localhost/foo/bar:x"] "x"\n',
        ),
        (
            '{{printf "%d %v %5.2f %x %t %q" 42 .Names 3.14159 255 true .Tag}}',
            '42 [localhost/test:1 localhost/foo/bar:x]  3.14 ff true "1"\n42 [localhost/test:1 localhost/foo/bar:x]  3.14 ff true "x"\n',
        ),
        ('{{print 1 2 "a" "b" 3}}|{{println "z"}}|', "1 2ab3|z\n|\n1 2ab3|z\n|\n"),
        ('{{split "a,b" ","}}', "[a b]\n[a b]\n"),
        ('{{title "hello world"}}', "Hello World\nHello World\n"),
        ('{{and 1 0}} {{or 0 "" "x"}} {{not .Dangling}}', "0 x true\n0 x true\n"),
        ('{{gt 2 1}} {{le 2 1}} {{ne .Tag "1"}}', "true false false\ntrue false true\n"),
        (
            "{{range $i, $e := .Names}}{{$i}}={{$e}};{{end}}",
            "0=localhost/test:1;1=localhost/foo/bar:x;\n" * 2,
        ),
        ("{{range .Labels}}{{.}}{{else}}none{{end}}", "b\nb\n"),
        ("{{range .Missing}}x{{else}}none{{end}}", None),
        ("{{.Labels.a}}", "b\nb\n"),
        ("{{(index .Names 0)}}", "localhost/test:1\nlocalhost/test:1\n"),
        ("table {{.ID}}\\t{{.CreatedSince}}", None),
    ],
)
def test_matches_podman(fmt: str, want: str | None) -> None:
    if want is None:
        with pytest.raises(TemplateError):
            r(fmt)
    else:
        assert r(fmt) == want


@pytest.mark.parametrize(
    ("fmt", "want"),
    [
        (
            "{{.Foo}}",
            'template: images:1:13: executing "images" at <.Foo>: can\'t evaluate field Foo in type images.imageReporter',
        ),
        (
            "table {{.ID}}\\t{{.Foo}}",
            'template: images:1:21: executing "images" at <.Foo>: can\'t evaluate field Foo in type images.imageReporter',
        ),
        (
            "{{index .Names 5}}",
            'template: images:1:13: executing "images" at <index .Names 5>: error calling index: index out of range: 5',
        ),
        ("{{.ID | foo}}", 'template: images:1: function "foo" not defined'),
        ("{{end}}", None),
        ("{{.ID", None),
        ("{{if .ID}}x", None),
    ],
)
def test_errors_like_go(fmt: str, want: str | None) -> None:
    with pytest.raises(TemplateError) as e:
        r(fmt)
    if want:
        assert e.value.message == want
    assert e.value.exit_code == 125


def test_unknown_header_prints_no_value_like_podman() -> None:
    out = render("table {{.ID}}\\t{{.Nope}}", [], name="images", headers=HDR)
    assert out == "IMAGE ID    <no value>\n"


def test_noheading_and_header_absorbs_nested_fields() -> None:
    assert render("table {{.Labels.a}}", ROWS, headers=HDR).splitlines()[0] == "LABELS"
    assert render("table {{.ID}}", ROWS, headers=HDR, noheading=True) == "4d23d2adc422\n4d23d2adc422\n"


def test_missing_map_key_prints_no_value() -> None:
    assert render_one("{{.Labels.zz}}", {"Labels": {}}) == "<no value>\n"


def test_struct_record_is_strict_and_keeps_order() -> None:
    rec = Record({"Z": 1, "A": [1, 2]}, go_type="define.InspectImageData")
    assert render_one("{{json .}}", rec) == '{"Z":1,"A":[1,2]}\n'
    assert render_one("{{json .M}}", {"M": {"b": 1, "a": 2}}) == '{"b":1,"a":2}\n'
    with pytest.raises(TemplateError, match="can't evaluate field Nope in type define.InspectImageData"):
        render_one("{{.Nope}}", rec)


def test_variables_break_continue() -> None:
    t = Template(
        "{{range $i, $x := .}}{{if eq $i 1}}{{continue}}{{end}}{{if eq $i 3}}{{break}}{{end}}{{$x}}{{end}}"
    )
    assert t.execute(["a", "b", "c", "d", "e"]) == "ac"
    t = Template("{{$n := 0}}{{range .}}{{$n = .}}{{end}}{{$n}}")
    assert t.execute([1, 2, 3]) == "3"


def test_trim_markers() -> None:
    assert Template("a  {{- 1 -}}  b\n{{- 2}}").execute(None) == "a1b2"


def test_print_values_like_go_fmt() -> None:
    t = Template("{{.}}")
    assert t.execute(None) == "<nil>"
    assert t.execute(True) == "true"
    assert t.execute(1.5) == "1.5"
    assert t.execute(1e6) == "1e+06"
    assert t.execute(100000.0) == "100000"
    assert t.execute(dt.datetime(2026, 11, 28, 15, 30, 24, tzinfo=dt.UTC)) == "2026-11-28 15:30:24 +0000 UTC"
    assert t.execute({"b": [1, 2], "a": "x"}) == "map[a:x b:[1 2]]"


def test_sprintf_verbs() -> None:
    assert go_sprintf(
        "%s|%5s|%-5s|%05d|%x|%X|%o|%e|%g", "a", "b", "c", 42, "hi", 255, 8, 1234.5, 0.000012
    ) == ("a|    b|c    |00042|6869|FF|10|1.234500e+03|1.2e-05")
    assert go_sprintf("%d") == "%!d(MISSING)"
    assert go_sprintf("%d", "x") == "%!d(string=x)"
    assert go_sprintf("x", 1) == "x%!(EXTRA int=1)"
    assert go_sprintf("100%%") == "100%"


def test_json_detection_and_normalize() -> None:
    for f in ("json", " json ", "{{json .}}", "{{ json . }}", "{{json .}} "):
        assert is_json(f)
    for f in ("{{json .ID}}", "table json", "jsonx"):
        assert not is_json(f)
    assert normalize_format("table {{.A}} {{.B}}") == "{{.A}}\t{{.B}}\n"
    assert normalize_format("{{.A}}\\t{{.B}}\\n") == "{{.A}}\t{{.B}}\n"


def test_go_json_escapes() -> None:
    assert go_json({"a": "<none>"}) == '{"a":"<none>"}'
    assert go_json({"a": "<none>"}, escape_html=True) == '{"a":"\\u003cnone\\u003e"}'
    assert go_json([{"a": 1}], indent=4) == '[\n    {\n        "a": 1\n    }\n]'


def test_tabwriter_blocks() -> None:
    # column widths are per block of consecutive lines having that column; last cell unpadded
    text = "a\tbb\tc\nlonger-than-12\tx\ty\nsingle\nq\tw\n"
    assert tabwrite(text) == (
        "a               bb          c\nlonger-than-12  x           y\nsingle\nq           w\n"
    )


def test_methods_called_and_arguments() -> None:
    class Obj:
        def Greet(self, who: str) -> str:  # noqa: N802
            return "hi " + who

    assert Template('{{.Greet "bob"}}|{{"al" | .Greet}}').execute(Obj()) == "hi bob|hi al"


def test_comparison_errors() -> None:
    with pytest.raises(TemplateError, match="incompatible types for comparison"):
        Template('{{eq 1 "a"}}').execute(None)
