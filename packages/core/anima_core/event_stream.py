"""Server-sent events (the WHATWG event-stream format), read strictly and without I/O:
bytes fed in pieces, decoded as UTF-8 and split into lines at CR LF, CR or LF, and the
lines into events; a line that is neither a comment nor a known field is refused."""

from __future__ import annotations

import codecs
import re
from typing import Final

_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


class LineSplitter:
    """Text fed in pieces, split into lines at CR LF, CR or LF (event-stream line ends)."""

    def __init__(self) -> None:
        self._partial: list[str] = []
        self._after_cr = False

    def feed(self, text: str) -> list[str]:
        """The lines `text` completes."""
        if self._after_cr and text:
            self._after_cr = False
            text = text.removeprefix("\n")  # the LF of a CR LF split between pieces
        if not text:
            return []
        self._after_cr = text.endswith("\r")
        *lines, rest = _LINE_BREAK.split(text)
        if lines and self._partial:
            lines[0] = "".join(self._partial) + lines[0]
            self._partial = []
        if rest:
            self._partial.append(rest)
        return lines

    def rest(self) -> str | None:
        """The last line, if the text ended without a line break."""
        return "".join(self._partial) if self._partial else None


class LineDecoder:
    """Bytes fed in pieces, decoded as UTF-8 (an event stream's only encoding; bad bytes
    replaced) and split into lines."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._splitter = LineSplitter()

    def feed(self, data: bytes) -> list[str]:
        """The lines `data` completes."""
        return self._splitter.feed(self._decoder.decode(data))

    def end(self) -> list[str]:
        """The lines left when the stream ends, the last one even without its line break."""
        lines = self._splitter.feed(self._decoder.decode(b"", final=True))
        last = self._splitter.rest()
        return lines if last is None else [*lines, last]


class EventParser:
    """Server-sent events, line by line (the WHATWG event-stream format), strictly: a line
    must be a comment or a known field."""

    def __init__(self) -> None:
        self._name = ""
        self._data: list[str] = []

    def pending(self) -> str | None:
        return "\n".join(self._data) if self._data else None

    def feed(self, line: str) -> tuple[str, str] | None:
        """(event name, data) when `line` ends an event; ValueError on garbage."""
        if not line:
            event = (self._name, "\n".join(self._data)) if self._data else None
            self._name, self._data = "", []
            return event
        if line.startswith(":"):  # a comment: keep-alives such as ": PROCESSING"
            return None
        field, colon, value = line.partition(":")
        if not colon or field not in ("data", "event", "id", "retry"):
            raise ValueError("not an event-stream line")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._name = value
        return None
