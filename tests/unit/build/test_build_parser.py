"""The Containerfile parser and word expansion (pure: no I/O)."""

from __future__ import annotations

import pytest

from podpy.build.parser import ParseError, parse
from podpy.build.words import Lexer
from podpy.util.errors import UsageError


def test_continuations_comments_and_directives() -> None:
    cf = parse(
        "# syntax=docker/dockerfile:1\n# escape=`\n\nFROM busybox\n# a comment\nRUN echo a `\n"
        "  # comment inside\n\n  b\nENV A=1\n",
        "Cf",
    )
    assert cf.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert cf.escape == "`"
    cmds = [(i.cmd, i.rest, i.line) for i in cf.instructions]
    assert cmds == [("FROM", "busybox", 4), ("RUN", "echo a   b", 6), ("ENV", "A=1", 10)]


def test_directive_only_at_the_top() -> None:
    cf = parse("FROM x\n# escape=`\nRUN a \\\n b\n")
    assert cf.escape == "\\" and cf.directives == {}
    assert cf.instructions[1].rest == "a  b"


def test_escaped_escape_does_not_continue() -> None:
    cf = parse("FROM x\nRUN echo \\\\\nRUN b\n")
    assert [i.rest for i in cf.instructions[1:]] == ["echo \\\\", "b"]


def test_json_and_shell_forms_and_flags() -> None:
    cf = parse(
        'FROM --platform=linux/amd64 x AS b\nCMD ["a", "b c"]\nCMD [not json\nCOPY --from=b --chown=1:2 a /b\n'
    )
    frm, cmd, bad, cp = cf.instructions
    assert frm.flags == ["--platform=linux/amd64"] and frm.rest == "x AS b"
    assert cmd.json == ["a", "b c"]
    assert bad.json is None and bad.rest == "[not json"
    assert cp.flag("from") == "b" and cp.flag("chown") == "1:2" and cp.rest == "a /b"


def test_heredocs() -> None:
    cf = parse('FROM x\nRUN <<EOF\necho 1\necho 2\nEOF\nCOPY <<-"A" <<B /d/\n\tx $V\nA\ny\nB\nRUN true\n')
    run, cp, last = cf.instructions[1:]
    assert run.heredocs[0].content == "echo 1\necho 2\n" and run.heredocs[0].expand
    a, b = cp.heredocs
    assert (a.name, a.content, a.expand, a.chomp) == ("A", "x $V\n", False, True)
    assert (b.name, b.content, b.expand) == ("B", "y\n", True)
    assert last.line == 11


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("FROM x\nFOO bar\n", 'Cf:2: unknown instruction: "FOO"'),
        ("FROM x\n\nENV\n", "Cf:3: ENV requires at least one argument"),
        ("FROM x\nCOPY a\n", "Cf:2: COPY requires at least two arguments, but only 1 provided"),
        ("FROM x\nRUN <<EOF\necho\n", "Cf:2: unterminated here-document"),
        ("FROM x\nSHELL sh -c\n", "Cf:2: SHELL requires the arguments to be in JSON form"),
        ("FROM x\nCOPY --bogus=1 a b\n", "Cf:2: unknown flag: --bogus for COPY"),
        ("FROM a b\n", "Cf:1: FROM requires either one or three arguments"),
        ("FROM x\nHEALTHCHECK FOO x\n", "Cf:2: unknown type"),
        ("FROM x\nONBUILD FROM y\n", "Cf:2: FROM isn't allowed as an ONBUILD trigger"),
        ("# escape=x\nFROM x\n", "Cf:1: invalid escape token"),
        ('FROM x\nENV A="unterminated\n', "Cf:2: unexpected end of statement"),
    ],
)
def test_errors_name_file_and_line(text: str, msg: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(text, "Cf")
    assert e.value.message.startswith(msg), e.value.message
    assert e.value.exit_code == 125


ENV = {"A": "1", "E": "", "P": "/usr/bin"}


@pytest.mark.parametrize(
    ("word", "out"),
    [
        ("$A", "1"),
        ("${A}x", "1x"),
        ("${NO:-dflt}", "dflt"),
        ("${E:-dflt}", "dflt"),
        ("${E-dflt}", ""),
        ("${A:+set}", "set"),
        ("${NO:+set}", ""),
        ("'$A'", "$A"),
        ('"$A b"', "1 b"),
        ("\\$A", "$A"),
        ('"a\\"b"', 'a"b'),
        ("$P:/x", "/usr/bin:/x"),
        ("a$", "a$"),
    ],
)
def test_expansion(word: str, out: str) -> None:
    assert Lexer().word(word, ENV) == out


def test_words_split_and_raw_pairs() -> None:
    lx = Lexer()
    assert lx.words('a "b c" $A ${NO}x', ENV) == ["a", "b c", "1", "x"]
    assert lx.split_raw('K="a b" L=c\\ d') == ['K="a b"', "L=c\\ d"]
    assert lx.expand('x "$A" \\$A ${A:+y}', ENV) == 'x "1" $A y'
    with pytest.raises(UsageError):
        lx.word("${A:?}", {"A": ""})
    with pytest.raises(UsageError):
        lx.word("${A%x}", ENV)


def test_backtick_escape() -> None:
    assert Lexer("`").word("C:`$A\\x", ENV) == "C:$A\\x"
