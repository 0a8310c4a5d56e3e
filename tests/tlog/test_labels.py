"""The actors and rooms the host may write: visible NFKC text, and no actor that reads
as the enclave's `signer`. The enclave (tests/signer) and the runtime (tests/log) both
apply these rules; here they are pinned one imitation at a time."""

from __future__ import annotations

import pytest

from anima_verify.tlog.entry import ENCLAVE_ACTOR, EntryKind, check_host_writable
from anima_verify.tlog.errors import MalformedEntry
from anima_verify.tlog.labels import (
    RESERVED_ACTORS,
    check_host_actor,
    check_host_label,
    label_key,
    normalize_label,
)

FULLWIDTH_SIGNER = "\uff53\uff49\uff47\uff4e\uff45\uff52"

IMITATIONS = {
    "capitalized": ("Signer", "imitates 'signer'"),
    "upper case": ("SIGNER", "imitates 'signer'"),
    "fullwidth": (FULLWIDTH_SIGNER, "imitates 'signer'"),
    "fullwidth capitals": ("\uff33\uff29\uff27\uff2e\uff25\uff32", "imitates 'signer'"),
    "long s": ("\u017figner", "imitates 'signer'"),
    "trailing space": ("signer ", "imitates 'signer'"),
    "no-break space": ("\u00a0signer", "imitates 'signer'"),
    "ideographic space": ("signer\u3000", "imitates 'signer'"),
    "zero-width space": ("signer\u200b", r"U\+200B \(ZERO WIDTH SPACE\)"),
    "zero-width non-joiner": ("sig\u200cner", r"U\+200C"),
    "zero-width joiner": ("sig\u200dner", r"U\+200D"),
    "word joiner": ("\u2060signer", r"U\+2060"),
    "byte order mark": ("\ufeffsigner", r"U\+FEFF"),
    "soft hyphen": ("sig\u00adner", r"U\+00AD"),
    "right-to-left override": ("\u202erengis", r"U\+202E"),
    "left-to-right isolate": ("\u2066signer\u2069", r"U\+2066"),
    "combining grapheme joiner": ("signer\u034f", r"U\+034F"),
    "variation selector": ("signer\ufe0f", r"U\+FE0F"),
    "Hangul filler": ("\u3164signer", r"U\+3164"),
    "halfwidth Hangul filler": ("signer\uffa0", r"U\+FFA0"),
    "tag letters": ("signer\U000e0073", r"U\+E0073"),
    "control character": ("signer\x00", r"U\+0000"),
    "delete": ("signer\x7f", r"U\+007F"),
    "newline": ("signer\nsigner", r"U\+000A"),
    "line separator": ("signer\u2028", r"U\+2028"),
    "paragraph separator": ("signer\u2029", r"U\+2029"),
    "private use": ("signer\ue000", r"U\+E000"),
    "unassigned": ("signer\U000e01f0", r"U\+E01F0"),
    "lone surrogate": ("signer\ud800", "not valid Unicode"),
}


@pytest.mark.parametrize("case", sorted(IMITATIONS))
def test_each_imitation_of_the_enclave_actor_is_refused(case: str) -> None:
    actor, reason = IMITATIONS[case]
    with pytest.raises(MalformedEntry, match=reason):
        check_host_actor(actor)
    with pytest.raises(MalformedEntry, match=reason):
        check_host_writable(EntryKind.MESSAGE_IN, actor, "room")


def test_the_enclave_actor_itself_is_reserved() -> None:
    assert ENCLAVE_ACTOR in RESERVED_ACTORS
    with pytest.raises(MalformedEntry, match="'signer' is reserved for the signer's own"):
        check_host_writable(EntryKind.ACTION, "signer", "")


@pytest.mark.parametrize(
    "label",
    [
        "bob",
        "user:42",
        "signers",
        "co-signer",
        "sig ner",
        'quo"te \\',
        "\u00e9mile",
        "\u4e16\u754c",
        "\U0001f600",
        "",
        "room-1",
    ],
)
def test_ordinary_labels_pass_as_they_are(label: str) -> None:
    assert check_host_actor(label) == label
    assert check_host_label(label, "room") == label


def test_a_room_may_be_called_signer_but_must_show_as_itself() -> None:
    """Rooms are not attributed to anyone: only actors are reserved."""
    assert check_host_label("Signer", "room") == "Signer"
    with pytest.raises(MalformedEntry, match=r"room holds U\+200B"):
        check_host_writable(EntryKind.MESSAGE_IN, "bob", "room\u200b")


def test_labels_must_be_sent_in_nfkc_form() -> None:
    with pytest.raises(MalformedEntry, match="not in NFKC form; send 'bob'"):
        check_host_actor("\uff42\uff4f\uff42")
    with pytest.raises(MalformedEntry, match="not in NFKC form"):
        check_host_label("cafe\u0301", "room")
    assert normalize_label("\uff42\uff4f\uff42") == "bob"
    assert normalize_label("cafe\u0301") == "caf\u00e9"


def test_label_key_folds_case_width_and_compatibility_forms() -> None:
    assert {label_key(s) for s in ("Signer", FULLWIDTH_SIGNER, "\u017figner", " SIGNER ")} == {
        "signer"
    }
    assert label_key("Stra\u00dfe") == label_key("STRASSE")


def test_a_label_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(MalformedEntry, match="actor must be a string"):
        check_host_actor(5)
