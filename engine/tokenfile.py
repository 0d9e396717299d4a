"""A corpus file's token ids on disk, read through ``np.memmap``: training on a corpus of any size keeps
only the windows it samples in memory.

The file holds the training part's ids, then the validation part's (split by character position, as
:meth:`engine.corpus.Corpus.split` does for plain files), as uint16 when the vocabulary fits, else
uint32, after a 32-byte header (magic, item size, the two counts). It lives in a cache folder
(``$TXE_CACHE_DIR``, else ``$XDG_CACHE_HOME/transformer-explorer``, else
``~/.cache/transformer-explorer``) under a name made from the corpus file's path, size and mtime, the
split point and the whole tokenizer: a resumed run or a second run on the same corpus reuses it, and any
change to the file or the tokenizer makes a new one. It is written atomically; the cache keeps the
:data:`KEEP` most recently used files.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.corpus import TextFile
from engine.errors import UserError
from engine.files import atomic_write, remove_leftovers
from engine.tokenizers import Tokenizer

MAGIC = b"TXETOK01"
HEADER = struct.Struct("<8sQQQ")  # magic, item size, train tokens, validation tokens
KEEP = 4
FORMAT_VERSION = 1


def cache_dir() -> Path:
    if os.environ.get("TXE_CACHE_DIR"):
        return Path(os.environ["TXE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "transformer-explorer"


@dataclass
class TokenFile:
    path: Path
    train: np.ndarray  # (n_train,) memmap of uint16 / uint32
    val: np.ndarray  # (n_val,)


def _read(path: Path) -> TokenFile | None:
    """The token file at ``path``, or None if it is missing or not a complete one."""
    try:
        with open(path, "rb") as f:
            magic, item, n_train, n_val = HEADER.unpack(f.read(HEADER.size))
        if magic != MAGIC or item not in (2, 4) or path.stat().st_size != HEADER.size + item * (n_train + n_val):
            return None
    except (OSError, struct.error):
        return None
    if n_train + n_val == 0:
        empty = np.zeros(0, dtype=np.uint16)
        return TokenFile(path, empty, empty)
    ids = np.memmap(path, dtype=np.uint16 if item == 2 else np.uint32, mode="r", offset=HEADER.size,
                    shape=(n_train + n_val,))
    return TokenFile(path, ids[:n_train], ids[n_train:])


def _key(text: TextFile, tokenizer: Tokenizer, cut: int) -> str:
    parts = [FORMAT_VERSION, str(text.path.resolve()), text.size, text.mtime_ns, cut, tokenizer.hf.to_str()]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def _prune(folder: Path, keep: Path) -> None:
    """Keep the KEEP most recently used token files."""
    try:
        files = sorted(folder.glob("*.tokens"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for p in files[KEEP:]:
        if p != keep:
            p.unlink(missing_ok=True)


def token_file(text: TextFile, tokenizer: Tokenizer, cut: int) -> TokenFile:
    """The ids of ``text`` (training part = characters before ``cut``), encoded once and cached."""
    folder = cache_dir() / "tokens"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the token cache {folder} ({e.strerror}); set TXE_CACHE_DIR") from None
    path = folder / f"{_key(text, tokenizer, cut)}.tokens"
    found = _read(path)
    if found is None:
        remove_leftovers(path)
        dtype = np.uint16 if tokenizer.vocab_size <= 2**16 else np.uint32

        def write(f) -> None:  # type: ignore[no-untyped-def]
            f.write(b"\0" * HEADER.size)
            counts = []
            for part in (text.pieces(0, cut), text.pieces(cut)):
                n = 0
                for ids in tokenizer.encode_pieces(part, dtype):
                    f.write(ids.tobytes())
                    n += len(ids)
                counts.append(n)
            f.seek(0)
            f.write(HEADER.pack(MAGIC, np.dtype(dtype).itemsize, *counts))

        atomic_write(path, write, f"the token cache {path} of {text.path}")
        found = _read(path)
        if found is None:
            raise UserError(f"the token cache {path} could not be read back; delete it and try again")
    else:
        os.utime(path)  # most recently used
    _prune(folder, path)
    return found
