"""C2SP signed notes: the shared example, and each malformed shape named."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.errors import (
    InvalidSignature,
    MalformedNote,
    MalformedVerifierKey,
    UnknownKey,
)
from anima_verify.tlog.note import (
    Note,
    NoteSignature,
    open_note,
    parse_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
)
from tests.vectors import require_vectors


@pytest.fixture(scope="module")
def example() -> tuple[bytes, str]:
    directory = require_vectors("note", "example.note", "example.vkey")
    return (directory / "example.note").read_bytes(), (directory / "example.vkey").read_text()


def _key(name: str = "anima.test/log") -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, verifier_key(name, public)


def test_the_shared_example_verifies(example: tuple[bytes, str]) -> None:
    data, vkey = example
    verifier = parse_verifier_key(vkey)
    assert verifier.name == "example.com/foo"
    assert str(verifier) == vkey.strip()
    note = open_note(data, [verifier])
    assert note.text == "This is an example message.\n"
    assert note.to_bytes() == data


def test_the_example_refuses_tampering_and_other_keys(example: tuple[bytes, str]) -> None:
    data, vkey = example
    verifier = parse_verifier_key(vkey)
    with pytest.raises(InvalidSignature, match=r"example\.com/foo"):
        open_note(data.replace(b"example message", b"example massage"), [verifier])
    _, other = _key("example.com/foo")
    with pytest.raises(UnknownKey, match=r"example\.com/foo"):
        open_note(data, [parse_verifier_key(other)])


def test_sign_and_open_round_trip_ignoring_unknown_signatures() -> None:
    private, vkey = _key()
    other_private, _ = _key("someone.else")
    note = sign_note("origin\n1\nabc\n", name="anima.test/log", private_key=private)
    cosigned = Note(
        note.text,
        (
            *sign_note(note.text, name="someone.else", private_key=other_private).signatures,
            *note.signatures,
        ),
    )
    opened = open_note(cosigned.to_bytes(), [parse_verifier_key(vkey)])
    assert opened.text == note.text
    assert len(opened.signatures) == 2


def test_repeated_signatures_by_one_key_are_skipped_as_go_does() -> None:
    private, vkey = _key()
    note = sign_note("hello\n", name="anima.test/log", private_key=private)
    [good] = note.signatures
    forged = NoteSignature(good.name, good.key_id, bytes(64))
    opened = open_note(Note(note.text, (good, forged)).to_bytes(), [parse_verifier_key(vkey)])
    assert opened.text == "hello\n"
    with pytest.raises(InvalidSignature):
        open_note(Note(note.text, (forged, good)).to_bytes(), [parse_verifier_key(vkey)])


def test_replacement_character_is_valid_text() -> None:
    private, vkey = _key()
    note = sign_note("bad byte \ufffd here\n", name="anima.test/log", private_key=private)
    assert open_note(note.to_bytes(), [parse_verifier_key(vkey)]).text == note.text


def test_uppercase_key_ids_parse() -> None:
    _, vkey = _key()
    name, kid, key = vkey.split("+", 2)
    assert parse_verifier_key(f"{name}+{kid.upper()}+{key}").key_id == bytes.fromhex(kid)


GOOD_SIG = "\u2014 k " + base64.b64encode(b"\x00" * 68).decode() + "\n"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"text\n" + GOOD_SIG.encode(), "no blank line"),
        (b"text\n\n", "no signature lines"),
        (b"te\x01xt\n\n" + GOOD_SIG.encode(), "control character U\\+0001"),
        (b"\xff\xfe\n\n" + GOOD_SIG.encode(), "not valid UTF-8"),
        (b"text\n\n" + GOOD_SIG.encode()[:-1], "must end with a newline"),
        (b"text\n\n- k AAAAAAAA\n", "does not start with"),
        (b"text\n\n\xe2\x80\x94 k not*base64\n", "not valid base64"),
        (b"text\n\n\xe2\x80\x94 k AAAA\n", "too short"),
        (b"text\n\n\xe2\x80\x94 k+x AAAAAAAA\n", "is not '\u2014 <name> <base64>'"),
        (b"text\n\n" + (GOOD_SIG * 101).encode(), "more than 100 signatures"),
        (b"text\n\n\xe2\x80\x94 b\x01c AAAAAAA=\n", "control character U\\+0001"),
        # Regression: non-ASCII in a signature's base64 escaped as a bare ValueError.
        ("text\n\n\u2014 k AAAA\u00e9AAAA\n".encode(), "line 1 is not valid base64"),
        ("text\n\n\u2014 k \uff21AAAAAAA\n".encode(), "line 1 is not valid base64"),
    ],
)
def test_malformed_notes_are_named(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedNote, match=reason):
        parse_note(data)


def test_signing_refuses_text_outside_the_grammar() -> None:
    private, _ = _key()
    with pytest.raises(MalformedNote, match="end with a newline"):
        sign_note("no newline", name="k", private_key=private)


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        ("only+two", "name\\+keyid\\+base64key"),
        ("na me+00000000+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode(), "valid key name"),
        ("k+zz+AAAA", "not valid hex/base64"),
        ("k+0000+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode(), "8 hex digits"),
        ("k+00000000+" + base64.b64encode(b"\x02" + b"\x00" * 32).decode(), "only Ed25519"),
        ("k+00000000+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode(), "does not match"),
        ("k+00000000+AAAA\u00e9AAA", "not valid hex/base64"),
        ("k+0000000\u00e9+AAAA", "not valid hex/base64"),
        # Regression: a name with a lone surrogate (an undecodable byte in a command line's
        # --vkey) escaped as UnicodeEncodeError while computing the key id.
        ("k\udcff+00000000+" + base64.b64encode(b"\x01" + b"\x00" * 32).decode(), "valid key"),
    ],
)
def test_malformed_verifier_keys_are_named(vkey: str, reason: str) -> None:
    with pytest.raises(MalformedVerifierKey, match=reason):
        parse_verifier_key(vkey)


def test_signature_line_format() -> None:
    line = NoteSignature("n", b"\x01\x02\x03\x04", b"sig").line()
    assert line == "\u2014 n " + base64.b64encode(b"\x01\x02\x03\x04sig").decode() + "\n"


def test_verifier_keys_whose_base64_holds_a_plus_parse() -> None:
    for _ in range(200):
        private, vkey = _key()
        if "+" in vkey.split("+", 2)[2]:
            break
    else:
        pytest.fail("no key with '+' in its base64 form in 200 tries")
    note = sign_note("hi\n", name="anima.test/log", private_key=private)
    assert open_note(note.to_bytes(), [parse_verifier_key(vkey)]).text == "hi\n"
