"""Reading and writing embedding matrices: the word2vec text format, and transformer checkpoints.

word2vec text format (also what gensim's ``save_word2vec_format(binary=False)`` writes)::

    V d
    word1 x1 x2 ... xd
    ...

A file without the ``V d`` header (GloVe's layout) is read too. Anything else is refused with one clear
sentence: empty, binary (word2vec's binary format, or any non-text file), rows of the wrong length,
values that are not numbers, a header that disagrees with the rows.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from engine.corpus import read_checked_bytes
from engine.embeddings.vectors import Vectors
from engine.errors import UserError
from engine.files import atomic_write

MAX_VECTOR_FILE_BYTES = 4 * 2**30


def write_word2vec(vectors: Vectors, path: str | Path) -> Path:
    """Write the word2vec text format atomically (temp file in the same folder, then os.replace), so a
    crash never leaves a half-written file under the final name."""
    dest = Path(path)
    if dest.is_dir():
        raise UserError(f"{dest} is a folder; give a file name for the vectors")
    if not dest.parent.exists():
        raise UserError(f"folder {dest.parent} does not exist")
    for w in vectors.words:
        if not w or any(ch.isspace() for ch in w):
            raise UserError(f"the word {w!r} has white space; the word2vec text format cannot store it")
    def write(f) -> None:  # type: ignore[no-untyped-def]
        text = io.TextIOWrapper(f, encoding="utf-8", newline="\n")
        text.write(f"{len(vectors)} {vectors.dim}\n")
        for word, row in zip(vectors.words, vectors.matrix, strict=True):
            text.write(word + " " + " ".join(f"{x:.6g}" for x in row.tolist()) + "\n")
        text.flush()
        text.detach()  # leave the file open for atomic_write's fsync

    atomic_write(dest, write, f"the vectors file {dest}")
    return dest


def _parse_header(line: str) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def read_word2vec(path: str | Path) -> Vectors:
    """Read a word2vec (or header-less GloVe) text file into :class:`Vectors`."""
    p = Path(path)
    data = read_checked_bytes(p, MAX_VECTOR_FILE_BYTES, "a vectors file or a checkpoint")
    first_nl = data.find(b"\n")
    header = _parse_header(data[:first_nl if first_nl >= 0 else len(data)].decode("latin-1"))
    if b"\x00" in data or _has_binary_floats(data):
        if header:
            raise UserError(f"{p} is in word2vec's binary format; save it in the text format "
                            "(gensim: save_word2vec_format(path, binary=False))")
        raise UserError(f"{p} looks binary, not a word2vec text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{p} is not UTF-8 text (bad byte at offset {e.start}); "
                        "is it word2vec's binary format?") from None
    lines = text.splitlines()
    start = 1 if header else 0
    words: list[str] = []
    rows: list[list[float]] = []
    dim = header[1] if header else None
    for n, line in enumerate(lines[start:], start + 1):
        parts = line.rstrip().split(" ")
        if len(parts) == 1 and not parts[0]:
            continue  # blank line
        if dim is None:
            dim = len(parts) - 1
            if dim < 1:
                raise UserError(f"{p}: line {n} has a word but no numbers; not a word2vec text file")
        if len(parts) != dim + 1:
            raise UserError(f"{p}: line {n} has {len(parts) - 1} numbers, expected {dim}")
        try:
            row = [float(x) for x in parts[1:]]
        except ValueError:
            raise UserError(f"{p}: line {n} has a value that is not a number") from None
        if not all(math.isfinite(x) for x in row):
            raise UserError(f"{p}: line {n} has an infinite or NaN value")
        words.append(parts[0])
        rows.append(row)
    if not rows:
        raise UserError(f"{p} has no vectors")
    if header and header[0] != len(rows):
        raise UserError(f"{p}: the header says {header[0]} words but the file has {len(rows)}")
    return Vectors(words, np.array(rows, dtype=np.float32), str(p))


def _has_binary_floats(data: bytes) -> bool:
    """Control bytes other than white space in the first 64 KiB mean packed floats, not text."""
    head = data[:65536]
    return any(b < 32 and b not in (9, 10, 13) for b in head)


def model_vectors(model, tokenizer, matrix: str = "embedding", source: str = "") -> Vectors:  # type: ignore[no-untyped-def]
    """Token vectors of a loaded transformer: rows of the token embedding W_E (``wte``) or of the
    unembedding W_U (``lm_head``; seed 003), one per token of its tokenizer, copied out of the model."""
    if matrix not in ("embedding", "unembedding"):
        raise UserError(f"unknown matrix {matrix!r}; use embedding or unembedding")
    layer = model.wte if matrix == "embedding" else model.lm_head
    weights = layer.weight.detach().float().cpu().numpy().copy()  # (V, d) for both: Linear stores (out, in)
    words = [tokenizer.token_text(i) for i in range(tokenizer.vocab_size)]
    return Vectors(words, weights, source or matrix)


def read_checkpoint_vectors(path: str | Path, matrix: str = "embedding") -> Vectors:
    """Token vectors (W_E or W_U) of a transformer checkpoint folder; see :func:`model_vectors`."""
    from engine.checkpoint import load_checkpoint  # the transformer side is imported only when asked

    if matrix not in ("embedding", "unembedding"):
        raise UserError(f"unknown matrix {matrix!r}; use embedding or unembedding")
    loaded = load_checkpoint(path)
    return model_vectors(loaded.model, loaded.tokenizer, matrix, f"{loaded.path} ({matrix})")


def load_vectors(path: str | Path, matrix: str = "embedding") -> Vectors:
    """A word2vec/GloVe text file, or a transformer checkpoint folder (``config.json`` +
    ``model.safetensors``), whose token ``matrix`` is "embedding" (W_E) or "unembedding" (W_U)."""
    p = Path(path)
    if p.is_dir() and ((p / "config.json").is_file() or (p / "model.safetensors").is_file()):
        return read_checkpoint_vectors(p, matrix)
    if p.is_dir():
        raise UserError(f"{p} is a folder but not a checkpoint (no config.json); give a vectors file")
    return read_word2vec(p)


def positional_matrix(model) -> tuple[np.ndarray, str]:  # type: ignore[no-untyped-def]
    """The position vectors of a loaded transformer, (T, d): the learned W_P (``wpe``) or the fixed
    sinusoidal table, with its kind ("learned" | "sinusoidal")."""
    if model.wpe is not None:
        return model.wpe.weight.detach().float().cpu().numpy().copy(), "learned"
    return model.positions(0, model.cfg.context).detach().float().cpu().numpy().copy(), "sinusoidal"


def read_positional_matrix(path: str | Path | None = None) -> tuple[np.ndarray, str]:
    """The position vectors of a transformer checkpoint (None: the embedded default model), see
    :func:`positional_matrix`. Feed it to :func:`engine.embeddings.analysis.positional_similarity`."""
    from engine.checkpoint import load_checkpoint

    return positional_matrix(load_checkpoint(path).model)
