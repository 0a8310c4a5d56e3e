"""Reading the character's knowledge entries: inline text as it is, a file or a
directory of text files only under the knowledge directory (a path that escapes it,
through ".." or a link, is refused), within limits on size and count. An entry that
cannot be used is skipped with the reason, never raised."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from anima_runtime.character.model import KnowledgeItem

TEXT_SUFFIXES = frozenset({".md", ".txt", ".json"})
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_FILES = 1000


@dataclass(frozen=True, slots=True)
class SkippedSource:
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Source:
    """A usable entry's text and where it came from."""

    source: str
    kind: str  # inline | file
    text: str
    shared: bool


@dataclass(slots=True)
class _Budget:
    """What is left of the limits on files read for one ingest."""

    bytes: int = MAX_TOTAL_BYTES
    files: int = MAX_FILES


def read_sources(
    items: Sequence[KnowledgeItem], base_dir: Path | None
) -> tuple[list[Source], list[SkippedSource]]:
    """Every entry's text, and the entries that cannot be used."""
    sources: list[Source] = []
    skipped: list[SkippedSource] = []
    budget = _Budget()
    for item in items:
        if item.text:
            digest = hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest()
            name = f"inline:{digest[:16]}"
            problem = _text_problem(item.text)
            if problem:
                skipped.append(SkippedSource(name, problem))
            else:
                sources.append(Source(name, "inline", item.text, item.shared))
            continue
        raw = item.path or item.directory
        if not raw:
            skipped.append(SkippedSource("(empty entry)", "names no text, path or directory"))
            continue
        if base_dir is None:
            skipped.append(SkippedSource(raw, "no knowledge directory to read files from"))
            continue
        root = base_dir.resolve()
        try:
            target = (root / raw).resolve()
        except (OSError, ValueError) as exc:  # a NUL in the name, a link loop
            skipped.append(SkippedSource(raw, f"is not a usable path: {exc}"))
            continue
        if not target.is_relative_to(root):
            skipped.append(SkippedSource(raw, f"is outside the knowledge directory {root}"))
        elif item.path and target.is_file():
            _read_file(root, target, item.shared, budget, sources, skipped)
        elif item.directory and target.is_dir():
            for path in _walk(target):
                _read_file(root, path, item.shared, budget, sources, skipped)
        else:
            kind = "file" if item.path else "directory"
            skipped.append(SkippedSource(raw, f"no such {kind}"))
    return sources, skipped


def _walk(directory: Path) -> Iterator[Path]:
    """Text files under `directory` in a stable order, hidden ones left out."""
    for top, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in TEXT_SUFFIXES:
                yield Path(top) / name


def _read_file(
    root: Path,
    path: Path,
    shared: bool,
    budget: _Budget,
    sources: list[Source],
    skipped: list[SkippedSource],
) -> None:
    real = path.resolve()
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    if not real.is_relative_to(root):
        skipped.append(SkippedSource(name, "links outside the knowledge directory"))
        return
    if real.suffix.lower() not in TEXT_SUFFIXES:
        skipped.append(SkippedSource(name, f"not a {'/'.join(sorted(TEXT_SUFFIXES))} file"))
        return
    if budget.files <= 0:
        skipped.append(SkippedSource(name, f"more than {MAX_FILES} knowledge files"))
        return
    try:
        size = real.stat().st_size
        if size > MAX_FILE_BYTES:
            skipped.append(SkippedSource(name, f"is {size} bytes; at most {MAX_FILE_BYTES}"))
            return
        if size > budget.bytes:
            skipped.append(SkippedSource(name, f"knowledge beyond {MAX_TOTAL_BYTES} bytes"))
            return
        data = real.read_bytes()
    except OSError as exc:
        skipped.append(SkippedSource(name, f"cannot be read: {exc.strerror or exc}"))
        return
    budget.bytes -= len(data)
    budget.files -= 1
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        skipped.append(SkippedSource(name, "is not UTF-8 text"))
        return
    problem = _text_problem(text)
    if problem:
        skipped.append(SkippedSource(name, problem))
    else:
        sources.append(Source(name, "file", text, shared))


def _text_problem(text: str) -> str:
    if not text.strip():
        return "is empty"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    return ""
