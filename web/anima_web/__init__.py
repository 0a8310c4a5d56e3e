"""The browser log explorer's static assets (plain ES modules, no build step except
the vendored @noble bundle, which web/build.mjs reproduces from package-lock.json).

A Python distribution only so the runtime can serve the assets wherever it is
installed; nothing here runs on the server.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["assets_dir"]


def assets_dir() -> Path:
    """The directory holding index.html, explorer.css, js/ and vendor/."""
    return Path(str(files(__package__) / "static"))
