"""Text as the offline model's English rules read it: curly apostrophes made straight,
"im" and "i m" read as "i'm", runs of spaces folded; and its lowercase words."""

from __future__ import annotations

import re


def wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


def normalized(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"\bim\b", "i'm", text, flags=re.IGNORECASE)
    text = re.sub(r"\b(i|I)\s+m\b", r"\1'm", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", normalized(text).lower()))


def mentions(text: str, phrase: str) -> bool:
    phrase_words = words(phrase)
    return bool(phrase_words) and f" {phrase_words} " in f" {words(text)} "
