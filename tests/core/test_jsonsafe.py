"""anima_verify.jsonsafe: nesting measured without decoding, and deep JSON refused before the
C decoder can overflow the stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from anima_verify import jsonsafe


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("42", 0),
        ('"[[[{"', 0),
        ("[]", 1),
        ('{"a": [1, {"b": "[[[{{{"}]}', 3),
        ('["\\"[[", "]"]', 1),  # an escaped quote does not end the string
        ('["\\\\", [[]]]', 3),  # an escaped backslash does
        ("[[[[", 4),  # not JSON: still how deep a decoder would go before failing
        ('["unterminated [[[[', 1),
        ("]]]][", 0),
        ("[" * 100_000, 100_000),
    ],
)
def test_depth_counts_brackets_outside_strings(text: str, expected: int) -> None:
    assert jsonsafe.depth(text) == expected
    assert jsonsafe.depth(text.encode()) == expected


def test_depth_decodes_bytes_as_json_loads_does() -> None:
    assert jsonsafe.depth('[["é"]]'.encode("utf-16")) == 2
    assert jsonsafe.depth('[["é"]]'.encode("utf-8-sig")) == 2
    assert jsonsafe.depth(b'["\xff[[["]') == 0  # not text: a decoder refuses it at once


def test_loads_decodes_up_to_the_limit_and_refuses_beyond() -> None:
    at_limit = "[" * 64 + "]" * 64
    assert jsonsafe.loads(at_limit) == json.loads(at_limit)
    assert jsonsafe.loads(b'{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(jsonsafe.TooDeep) as caught:
        jsonsafe.loads("[" + at_limit + "]", what="the answer")
    assert str(caught.value) == "the answer is nested more than 64 levels deep"
    assert isinstance(caught.value, ValueError)  # handled wherever bad JSON is
    assert jsonsafe.loads("[[[]]]", max_depth=3) == [[[]]]
    with pytest.raises(jsonsafe.TooDeep):
        jsonsafe.loads("[[[]]]", max_depth=2)


def test_loads_passes_the_decoder_hooks_and_its_errors() -> None:
    pairs = jsonsafe.loads('{"a": 1, "a": 2}', object_pairs_hook=list)
    assert pairs == [("a", 1), ("a", 2)]
    assert jsonsafe.loads("[NaN]", parse_constant=lambda name: name) == ["NaN"]
    with pytest.raises(json.JSONDecodeError):
        jsonsafe.loads("{oops")


def _run(*lines: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_regression_deep_json_no_longer_kills_a_process_that_imports_eth_account() -> None:
    """Regression: eth_account (py_ecc) raises the recursion limit to 100000, so
    json.loads("[" * 200000) overflowed the C stack and the runtime died with SIGSEGV.
    The control shows the crash is real in such a process; jsonsafe refuses instead."""
    setup = (
        "import json, sys",
        "import eth_account",
        "assert sys.getrecursionlimit() >= 100_000, sys.getrecursionlimit()",
        'deep = "[" * 200_000 + "]" * 200_000',
    )
    control = _run(*setup, "json.loads(deep)")
    assert control.returncode < 0, (control.returncode, control.stderr[-500:])  # a signal
    fixed = _run(
        *setup,
        "from anima_verify import jsonsafe",
        "try:",
        "    jsonsafe.loads(deep)",
        "except jsonsafe.TooDeep as exc:",
        "    print('refused:', exc)",
    )
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert fixed.stdout == "refused: JSON text is nested more than 64 levels deep\n"
