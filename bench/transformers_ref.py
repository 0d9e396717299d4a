"""Hugging Face ``transformers``, the numerical reference of the tests and benchmarks (never of the engine).

The repository's ``packaging/`` folder (scripts for screenshots and control names) has the name of the
PyPI package ``packaging``, which transformers imports; run from the repository root, Python would find
ours first. :func:`import_transformers` imports the real one (and transformers) with the root set aside.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _is_root(entry: str) -> bool:
    try:
        return Path(entry or ".").resolve() == ROOT
    except OSError:
        return False


def import_transformers() -> ModuleType:
    """``import transformers``, with PyPI's ``packaging`` rather than the repository's folder of that name."""
    if "transformers" in sys.modules:
        return sys.modules["transformers"]
    ours = sys.modules.get("packaging")
    if ours is not None and Path(getattr(ours, "__file__", "") or "").resolve().parent.parent == ROOT:
        for name in [n for n in sys.modules if n == "packaging" or n.startswith("packaging.")]:
            del sys.modules[name]
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if not _is_root(p)]
    try:
        import packaging.version  # noqa: F401  (PyPI's, now in sys.modules for transformers)
        import transformers
        import transformers.utils.logging as hf_logging

        hf_logging.set_verbosity_error()
    finally:
        sys.path[:] = saved
    return transformers
