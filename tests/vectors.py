"""Where the shared test vectors live: $ANIMA_VECTORS_DIR, by default the
`shared/vectors` directory beside the repository. Read in place, never copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def vectors_dir(kind: str) -> Path:
    override = os.environ.get("ANIMA_VECTORS_DIR")
    base = Path(override) if override else REPO_ROOT.parent / "shared" / "vectors"
    return base / kind


def require_vectors(kind: str, *needed: str) -> Path:
    """The vector directory for `kind`, or skip the test saying what is missing."""
    directory = vectors_dir(kind)
    missing = [str(directory / n) for n in needed or ("",) if not (directory / n).exists()]
    if missing:
        pytest.skip(f"test vectors not found ({', '.join(missing)}); set ANIMA_VECTORS_DIR")
    return directory
