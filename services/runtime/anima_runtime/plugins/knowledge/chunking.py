"""Cutting a document into fragments: chunks of at most CHUNK_SIZE characters that
break between sentences where they can and overlap the chunk before by a little, so a
passage cut at a boundary is still found whole in one of them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

#: Fragment size in characters: about 200 words, within MiniLM's 256-token window.
CHUNK_SIZE = 800
CHUNK_OVERLAP = 120

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# After . ! ? or an ellipsis and a space; after the CJK full stops with or without one.
_SENTENCE_END = re.compile("(?<=[.!?\u2026])\\s+|(?<=[\u3002\uff01\uff1f])\\s*")


def chunk_text(text: str, *, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Split `text` into chunks of at most `size` characters, each starting with up to
    `overlap` characters from the end of the one before.

    Chunks break between sentences where they can, inside a sentence between words
    where one sentence is too long, and inside a word only where a word is. The
    same text always gives the same chunks; blank text gives none.
    """
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in [0, size), got {overlap} with size {size}")
    chunks: list[str] = []
    current: list[tuple[str, str]] = []  # (separator before, piece)
    length = 0  # of the chunk `current` makes
    for separator, piece in _units(text, size):
        if current and length + len(separator) + len(piece) > size:
            chunks.append(_joined(current))
            # The overlap must leave room for the piece that starts the next chunk.
            current = _tail(current, min(overlap, size - len(piece) - len(separator)))
            length = _length(current)
            while current and length + len(separator) + len(piece) > size:
                current.pop(0)
                length = _length(current)
        length += (len(separator) if current else 0) + len(piece)
        current.append((separator, piece))
    if current:
        chunks.append(_joined(current))
    return chunks


def _units(text: str, size: int) -> Iterator[tuple[str, str]]:
    """Sentences (words of an over-long sentence, slices of an over-long word), each
    with what separated it from the one before: a blank line, a line break, a space,
    or nothing (between CJK sentences, between slices of one word). The first
    unit's separator means nothing: a chunk never starts with one."""
    for paragraph in _PARAGRAPH_BREAK.split(text):
        for n_line, line in enumerate(paragraph.strip().splitlines()):
            for n_sentence, (sentence, spaced) in enumerate(_sentences(line)):
                for n_piece, (piece, inside_word) in enumerate(_pieces(sentence, size)):
                    if n_piece:
                        separator = "" if inside_word else " "
                    elif n_sentence:
                        separator = " " if spaced else ""
                    else:
                        separator = "\n" if n_line else "\n\n"
                    yield separator, piece


def _sentences(line: str) -> Iterator[tuple[str, bool]]:
    """The line's sentences, each with whether whitespace came before it."""
    start, spaced = 0, False
    for end in _SENTENCE_END.finditer(line):
        sentence = line[start : end.start()].strip()
        if sentence:
            yield sentence, spaced
        start, spaced = end.end(), bool(end.group())
    sentence = line[start:].strip()
    if sentence:
        yield sentence, spaced


def _pieces(sentence: str, size: int) -> Iterator[tuple[str, bool]]:
    """The sentence, or its words if too long, or slices of a word too long: with
    whether the piece continues the one before inside a word."""
    if len(sentence) <= size:
        yield sentence, False
        return
    for word in sentence.split():
        for start in range(0, len(word), size):
            yield word[start : start + size], start > 0


def _length(units: Sequence[tuple[str, str]]) -> int:
    return sum(len(piece) for _, piece in units) + sum(len(sep) for sep, _ in units[1:])


def _joined(units: Sequence[tuple[str, str]]) -> str:
    return units[0][1] + "".join(sep + piece for sep, piece in units[1:])


def _tail(units: Sequence[tuple[str, str]], overlap: int) -> list[tuple[str, str]]:
    """The last whole pieces that fit in `overlap`; else the last words of the last one."""
    tail: list[tuple[str, str]] = []
    length = 0
    for separator, piece in reversed(units):
        grown = len(piece) + (len(tail[-1][0]) + length if tail else 0)
        if grown > overlap:
            break
        tail.append((separator, piece))
        length = grown
    if tail or overlap <= 0:
        return tail[::-1]
    words: list[str] = []
    length = -1
    for word in reversed(units[-1][1].split()):
        if length + 1 + len(word) > overlap:
            break
        words.append(word)
        length += 1 + len(word)
    return [(" ", " ".join(reversed(words)))] if words else []
