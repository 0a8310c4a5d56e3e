"""What the host may write as an entry's actor and room: names a reader can trust to
look like what they are.

The enclave's own entries carry the actor `signer`; a reader (a person, the
explorer) trusts an entry under that name to come from the enclave. A host that
could write "Signer", "signer\\u200b" (a zero-width space after it) or the same
word in fullwidth letters (U+FF53 U+FF49 ...) would put words in the enclave's
mouth for anyone reading by eye. So labels from the host:

- may not hold characters that do not show, or show as something else: controls
  (Cc), format characters (Cf, e.g. zero-width spaces, bidirectional overrides),
  line and paragraph separators (Zl, Zp), surrogates (Cs), private-use (Co) and
  unassigned (Cn) code points, and the other default-ignorable code points (e.g.
  variation selectors, Hangul fillers);
- must be in NFKC form (the runtime normalizes what it sends; the enclave refuses
  anything else, so no two spellings of one name reach the log);
- may not be a reserved name once NFKC-casefolded and stripped of surrounding
  whitespace (actors only: `signer`), nor read as one: diacritics dropped and
  look-alike letters from other scripts folded (Cyrillic dze, i, ie; Greek capital
  iota, nu, epsilon; Cherokee, Lisu, small capitals: confusables.py).

Both the runtime (early, for a clear error) and the enclave (the AppendLog check:
the host is not trusted) apply these rules. Entries already in a log are not
re-checked: a verifier decodes them as they were written.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from anima_verify.tlog.confusables import skeleton
from anima_verify.tlog.errors import MalformedEntry

#: The actor of the enclave's own entries (see ENCLAVE_ONLY_KINDS in entry.py).
ENCLAVE_ACTOR: Final = "signer"
#: Actor names the host may not write, nor anything that folds to one of them.
RESERVED_ACTORS: Final = frozenset({ENCLAVE_ACTOR})

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt) outside the
# categories above: these are letters, marks or fillers that render as nothing.
_DEFAULT_IGNORABLE = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors (and vowel separator)
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0000, 0xE0FFF),  # tags and variation selectors supplement
)


def _hidden(char: str) -> bool:
    if unicodedata.category(char) in _REFUSED_CATEGORIES:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _DEFAULT_IGNORABLE)


def normalize_label(value: str) -> str:
    """The NFKC form of a label, as the host should send it."""
    return value if value.isascii() else unicodedata.normalize("NFKC", value)


def label_key(value: str) -> str:
    """The form two labels that read alike share: NFKC, case-folded, NFKC again (as
    Unicode's NFKC_Casefold), without surrounding whitespace."""
    if value.isascii():
        return value.lower().strip()
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return folded.strip()


def check_host_label(value: object, what: str, reserved: frozenset[str] = frozenset()) -> str:
    """`value` if the host may write it as an entry's `what` (actor or room), else
    MalformedEntry naming the problem: a hidden character, a name that folds to one
    of `reserved`, or text not in NFKC form (checked in that order, so an imitation
    is called one)."""
    if not isinstance(value, str):
        raise MalformedEntry(f"{what} must be a string")
    if value.isascii():
        bad = next((c for c in value if not " " <= c <= "~"), None)
    else:
        bad = next((c for c in value if _hidden(c)), None)
    if bad is not None:
        if unicodedata.category(bad) == "Cs":
            raise MalformedEntry(f"{what} is not valid Unicode (lone surrogate U+{ord(bad):04X})")
        name = unicodedata.name(bad, "a control or unassigned character")
        raise MalformedEntry(
            f"{what} holds U+{ord(bad):04X} ({name}), which does not show as itself"
        )
    key = label_key(value)
    if key in reserved:
        if value == key:
            raise MalformedEntry(f"{what} {value!r} is reserved for the signer's own entries")
        raise MalformedEntry(f"{what} {value!r} imitates {key!r}, which is reserved for the signer")
    if reserved:
        imitated = skeleton(key)
        if imitated in reserved:
            raise MalformedEntry(
                f"{what} {value!r} imitates {imitated!r} with look-alike letters; "
                f"{imitated!r} is reserved for the signer"
            )
    if not value.isascii() and not unicodedata.is_normalized("NFKC", value):
        raise MalformedEntry(
            f"{what} {value!r} is not in NFKC form; send {normalize_label(value)!r}"
        )
    return value


def check_host_actor(value: object) -> str:
    """An actor the host may write: visible NFKC text that does not fold to a
    reserved name (MalformedEntry otherwise)."""
    return check_host_label(value, "actor", RESERVED_ACTORS)
