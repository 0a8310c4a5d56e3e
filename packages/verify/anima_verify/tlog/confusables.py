"""Look-alike letters of the names reserved for the enclave, folded to the letter
they imitate, so "signer" spelled with Cyrillic dze, i and ie (U+0455 U+0456 U+0435)
reads as what it is: `signer`.

Unicode TS #39 defines such a folding (the "skeleton") over its confusables data,
which Python does not ship. The reserved names are few and short, so this module
folds only the look-alikes of their letters, a small table kept here by hand,
rather than bring a confusables package and its data (around a megabyte) into the
verification library and the enclave's measured image. It is deliberately wider
than TS #39 for these letters: a host has no use for an actor that merely looks
like a reserved name (diacritics are dropped too, and l, 1 and | read as i), and
refusing one costs nothing. Extend LOOK_ALIKES with the letters of any name added
to RESERVED_ACTORS (tests/tlog/test_confusables.py checks that every reserved
letter has an entry).

The table applies after NFKC and case folding (labels.label_key), which already
fold fullwidth, mathematical and other compatibility forms and upper case; its
entries are the casefolded forms of the upper- and lower-case look-alikes.
"""

from __future__ import annotations

import unicodedata
from typing import Final

#: letter -> the characters that read as it (casefolded forms).
LOOK_ALIKES: Final[dict[str, str]] = {
    "s": (
        "\u0455"  # CYRILLIC SMALL LETTER DZE (and capital DZE, casefolded)
        "\ua731"  # LATIN LETTER SMALL CAPITAL S
        "\u13da\u13d5"  # CHEROKEE LETTERS DU, DE (small Cherokee letters casefold to these)
        "\ua4e2"  # LISU LETTER SA
        "\u01bd"  # LATIN SMALL LETTER TONE FIVE
        "\u0282"  # LATIN SMALL LETTER S WITH HOOK
    ),
    "i": (
        "\u0456"  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
        "\u04cf"  # CYRILLIC SMALL LETTER PALOCHKA (and the capital, casefolded)
        "\ua647"  # CYRILLIC SMALL LETTER IOTA
        "\u03b9"  # GREEK SMALL LETTER IOTA (and capital IOTA, casefolded)
        "\u0131"  # LATIN SMALL LETTER DOTLESS I
        "\u0269"  # LATIN SMALL LETTER IOTA
        "\u026a"  # LATIN LETTER SMALL CAPITAL I
        "\u01c0"  # LATIN LETTER DENTAL CLICK
        "\u13a5"  # CHEROKEE LETTER V (and its small form, casefolded)
        "\ua4f2"  # LISU LETTER I
        "l1|"  # ASCII that reads as a capital I in many fonts
    ),
    "g": (
        "\u0261"  # LATIN SMALL LETTER SCRIPT G
        "\u0262"  # LATIN LETTER SMALL CAPITAL G
        "\u0581"  # ARMENIAN SMALL LETTER CO
        "\u050d"  # CYRILLIC SMALL LETTER KOMI SJE (and capital, casefolded)
        "\u13c0"  # CHEROKEE LETTER NAH (and its small form, casefolded)
        "\ua4d6"  # LISU LETTER GA
        "\u0260"  # LATIN SMALL LETTER G WITH HOOK
    ),
    "n": (
        "\u03bd"  # GREEK SMALL LETTER NU (capital NU reads as N)
        "\u03b7"  # GREEK SMALL LETTER ETA
        "\u043f"  # CYRILLIC SMALL LETTER PE
        "\u0578\u057c"  # ARMENIAN SMALL LETTERS VO, RA
        "\u0274"  # LATIN LETTER SMALL CAPITAL N
        "\ua4e0"  # LISU LETTER NA
    ),
    "e": (
        "\u0435"  # CYRILLIC SMALL LETTER IE (and capital IE, casefolded)
        "\u04bd"  # CYRILLIC SMALL LETTER ABKHASIAN CHE
        "\u03b5"  # GREEK SMALL LETTER EPSILON (NFKC folds the lunate one to it)
        "\u212e"  # ESTIMATED SYMBOL
        "\u13ac"  # CHEROKEE LETTER GV (and its small form, casefolded)
        "\ua4f0"  # LISU LETTER E
        "\u1d07"  # LATIN LETTER SMALL CAPITAL E
    ),
    "r": (
        "\u0433"  # CYRILLIC SMALL LETTER GHE
        "\u1d26"  # GREEK LETTER SMALL CAPITAL GAMMA
        "\u0280"  # LATIN LETTER SMALL CAPITAL R
        "\u13a1\u13d2"  # CHEROKEE LETTERS E, SV (and their small forms, casefolded)
        "\ua4e3"  # LISU LETTER ZHA
        "\u027c\u027d"  # LATIN SMALL LETTER R WITH LONG LEG, WITH TAIL
    ),
}

_FOLD: Final = str.maketrans(
    {char: letter for letter, chars in LOOK_ALIKES.items() for char in chars}
)


def skeleton(key: str) -> str:
    """`key` (a labels.label_key: NFKC, casefolded) with diacritics dropped and every
    look-alike of a reserved name's letter folded to that letter."""
    if not key.isascii():
        decomposed = unicodedata.normalize("NFD", key)
        key = "".join(c for c in decomposed if not unicodedata.combining(c))
    return key.translate(_FOLD)
