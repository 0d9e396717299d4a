"""The app's version: pyproject.toml's ``version`` is the only place it is written.

An installed checkout reads it from its distribution's metadata; the frozen bundle (and a checkout run without
being installed) reads the pyproject.toml beside app/ (make package puts it in the bundle).
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "transformer-explorer"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def app_version() -> str:
    """The version of Transformer Explorer ("unknown" when neither source is there)."""
    if PYPROJECT.is_file():  # first: an editable install's metadata is as old as its last pip install
        try:
            return str(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            pass
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def package_version(distribution: str) -> str | None:
    """An installed distribution's version (None when it is not installed)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
