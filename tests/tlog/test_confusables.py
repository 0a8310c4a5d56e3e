"""Look-alikes of the enclave's reserved actor from other scripts: each one refused
by the check the enclave (AppendLog) and the runtime both apply, and names that only
resemble it in part still accepted."""

from __future__ import annotations

import unicodedata

import pytest

from anima_verify.tlog.confusables import LOOK_ALIKES, skeleton
from anima_verify.tlog.entry import EntryKind, check_host_writable
from anima_verify.tlog.errors import MalformedEntry
from anima_verify.tlog.labels import RESERVED_ACTORS, check_host_actor, label_key

ATTACKS = {
    "Cyrillic dze, i, ie": "\u0455\u0456gn\u0435r",
    "Cyrillic dze alone": "\u0455igner",
    "Cyrillic capitals": "\u0405\u0406GN\u0415R",
    "Cyrillic ghe for r": "signe\u0433",
    "Cyrillic palochka": "s\u04c0gner",
    "Greek capitals": "S\u0399G\u039d\u0395R",
    "Greek iota and nu": "s\u03b9g\u03bde\u0433",
    "Greek epsilon": "sign\u03b5r",
    "Latin dotless i": "s\u0131gner",
    "Latin script g": "si\u0261ner",
    "small capitals": "\ua731\u026a\u0262\u0274\u1d07\u0280",
    "Armenian co and vo": "si\u0581\u0578er",
    "Cherokee capitals": "\u13daI\u13c0N\u13ac\u13a1",
    "Cherokee small letters": "\uabaai\uab90ner",
    "Lisu": "\ua4e2\ua4f2\ua4d6\ua4e0\ua4f0\ua4e3",
    "a diacritic": "sign\u00e9r",
    "a combining mark": "signe\u0301r",
    "l for I in capitals": "SlGNER",
    "digit one": "s1gner",
    "mixed fullwidth and Cyrillic": "\uff53\u0456gner",
}


@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_each_look_alike_of_signer_is_refused(case: str) -> None:
    actor = unicodedata.normalize("NFKC", ATTACKS[case])  # as the runtime sends it
    with pytest.raises(MalformedEntry, match="imitates 'signer'"):
        check_host_actor(actor)
    with pytest.raises(MalformedEntry, match="imitates 'signer'"):
        check_host_writable(EntryKind.MESSAGE_IN, actor, "room")


@pytest.mark.parametrize(
    "actor",
    [
        "signers",
        "co-signer",
        "sig ner",
        "singer",
        "\u0455ign",
        "\u0456van",
        "elena",
        "\u0440\u0435\u0433",
    ],
)
def test_names_that_do_not_read_as_signer_are_accepted(actor: str) -> None:
    assert check_host_actor(actor) == actor


def test_rooms_are_not_reserved() -> None:
    check_host_writable(EntryKind.MESSAGE_IN, "bob", "\u0455\u0456gn\u0435r")


def test_every_letter_of_a_reserved_name_has_its_look_alikes() -> None:
    """A name added to RESERVED_ACTORS needs its letters in LOOK_ALIKES."""
    for name in RESERVED_ACTORS:
        assert set(name) <= set(LOOK_ALIKES), name
        assert skeleton(name) == name


def test_the_table_holds_casefolded_forms_only() -> None:
    """skeleton runs after label_key: an entry that label_key changes would never match."""
    for letter, chars in LOOK_ALIKES.items():
        for char in chars:
            assert label_key(char) == char, (letter, f"U+{ord(char):04X}")
