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
from engine.validate import check_memory

MAX_VECTOR_FILE_BYTES = 16 * 2**30
ROW_BLOCK = 4096  # rows parsed into one float32 block at a time
MAX_LINE_BYTES = 4 * 2**20  # a line of 100,000 numbers fits


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
    """Read a word2vec (or header-less GloVe) text file into :class:`Vectors`, line by line: memory holds
    the float32 matrix (checked against the machine before it grows) and one line, never the whole text."""
    p = Path(path)
    read_checked_bytes(p, 0, "a vectors file or a checkpoint", check_only=True)
    if p.stat().st_size > MAX_VECTOR_FILE_BYTES:
        raise UserError(f"{p} is {p.stat().st_size / 2**20:,.0f} MiB; the limit is "
                        f"{MAX_VECTOR_FILE_BYTES / 2**20:,.0f} MiB")
    with open(p, "rb") as f:
        head = f.read(65536)
        first_nl = head.find(b"\n")
        header = _parse_header(head[:first_nl if first_nl >= 0 else len(head)].decode("latin-1"))
        if b"\x00" in head or _has_binary_floats(head):
            _refuse_binary(p, header)
        f.seek(0)
        return _parse_rows(p, f, header)


def _refuse_binary(p: Path, header: tuple[int, int] | None) -> None:
    if header:
        raise UserError(f"{p} is in word2vec's binary format; save it in the text format "
                        "(gensim: save_word2vec_format(path, binary=False))")
    raise UserError(f"{p} looks binary, not a word2vec text file")


def _parse_rows(p: Path, f, header: tuple[int, int] | None) -> Vectors:  # type: ignore[no-untyped-def]
    words: list[str] = []
    blocks: list[np.ndarray] = []  # filled blocks of ROW_BLOCK rows
    block: np.ndarray | None = None
    dim = header[1] if header else None
    if header:
        check_memory(4 * header[0] * header[1], f"the {header[0]:,} x {header[1]:,} vectors {p} announces")
    offset = 0
    for n, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES), b""), 1):
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise UserError(f"{p}: line {n} is longer than {MAX_LINE_BYTES // 2**20} MiB; not a word2vec text file")
        line_start, offset = offset, offset + len(raw)
        if n == 1 and header:
            continue
        if b"\x00" in raw:
            _refuse_binary(p, header)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{p} is not UTF-8 text (bad byte at offset {line_start + e.start}); "
                            "is it word2vec's binary format?") from None
        if n == 1:
            line = line.removeprefix("\ufeff")
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
        if block is None or len(words) % ROW_BLOCK == 0:
            if block is not None:
                blocks.append(block)
            check_memory(4 * dim * (len(words) + ROW_BLOCK) * 2, f"the vectors of {p}")
            block = np.empty((ROW_BLOCK, dim), dtype=np.float32)
        block[len(words) % ROW_BLOCK] = row
        words.append(parts[0])
    if not words:
        raise UserError(f"{p} has no vectors")
    if header and header[0] != len(words):
        raise UserError(f"{p}: the header says {header[0]} words but the file has {len(words)}")
    assert block is not None
    blocks.append(block[: len(words) - ROW_BLOCK * len(blocks)])
    return Vectors(words, np.concatenate(blocks) if len(blocks) > 1 else blocks[0], str(p))


def _has_binary_floats(data: bytes) -> bool:
    """Control bytes other than white space in the first 64 KiB mean packed floats, not text."""
    head = data[:65536]
    return any(b < 32 and b not in (9, 10, 13) for b in head)


def model_vectors(model, tokenizer, matrix: str = "embedding", source: str = "") -> Vectors:  # type: ignore[no-untyped-def]
    """Token vectors of a loaded transformer: rows of the token embedding W_E (``wte``) or of the
    unembedding W_U (``lm_head``; seed 003), one per token of its tokenizer, copied out of the model."""
    if matrix not in ("embedding", "unembedding"):
        raise UserError(f"unknown matrix {matrix!r}; use embedding or unembedding")
    if matrix == "unembedding" and model.lm_head is None:
        raise UserError(f"{getattr(model, 'name', '') or 'this model'} has no unembedding (an encoder outputs its "
                        "hidden states); use its token embedding")
    layer = model.wte if matrix == "embedding" else model.lm_head
    weights = layer.weight.detach().float().cpu().numpy().copy()  # (V, d) for both: Linear stores (out, in)
    words = [tokenizer.token_text(i) for i in range(tokenizer.vocab_size)]
    return Vectors(words, weights, source or matrix)


def read_checkpoint_vectors(path: str | Path, matrix: str = "embedding") -> Vectors:
    """Token vectors (W_E or W_U) of a transformer checkpoint folder; see :func:`model_vectors`."""
    from engine.models import open_model  # the transformer side is imported only when asked

    if matrix not in ("embedding", "unembedding"):
        raise UserError(f"unknown matrix {matrix!r}; use embedding or unembedding")
    loaded = open_model(path)
    return model_vectors(loaded.model, loaded.tokenizer, matrix, f"{loaded.path} ({matrix})")


def load_vectors(path: str | Path, matrix: str = "embedding") -> Vectors:
    """A word2vec/GloVe text file, or a transformer checkpoint folder (``config.json`` +
    ``model.safetensors``), whose token ``matrix`` is "embedding" (W_E) or "unembedding" (W_U)."""
    p = Path(path)
    if (p.is_dir() and ((p / "config.json").is_file() or (p / "model.safetensors").is_file())) \
            or p.suffix.lower() == ".gguf" or str(path) in ("default", "smollm2", "minilm"):
        return read_checkpoint_vectors(path, matrix)
    if p.is_dir():
        raise UserError(f"{p} is a folder but not a checkpoint (no config.json); give a vectors file")
    return read_word2vec(p)


def positional_matrix(model) -> tuple[np.ndarray, str]:  # type: ignore[no-untyped-def]
    """The position vectors of a loaded transformer, (T, d): the learned W_P (``wpe``) or the fixed
    sinusoidal table, with its kind ("learned" | "sinusoidal")."""
    if model.wpe is not None:
        return model.wpe.weight.detach().float().cpu().numpy().copy(), "learned"
    if model.cfg.positional != "sinusoidal":
        raise UserError(f"{getattr(model, 'name', '') or 'this model'} has {model.cfg.positional} positions: no "
                        "position vectors are added to its embeddings (rotary positions turn q and k instead)")
    return model.positions(0, model.cfg.context).detach().float().cpu().numpy().copy(), "sinusoidal"


def read_positional_matrix(path: str | Path | None = None) -> tuple[np.ndarray, str]:
    """The position vectors of a transformer checkpoint (None: the embedded default model), see
    :func:`positional_matrix`. Feed it to :func:`engine.embeddings.analysis.positional_similarity`."""
    from engine.models import open_model

    return positional_matrix(open_model(path).model)
