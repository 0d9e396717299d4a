"""Scripted judges: stand-ins for the human in RLHF, for experiments and tests.

A judge gives a continuation of a prompt a number (:meth:`Judge.score`, higher is better) and so prefers one
of two continuations (:meth:`Judge.prefer`). Each reads the continuation as one line of verse, the line that
follows the prompt's last line:

- ``rhyme``: the line's last word rhymes with the prompt's last word (the CMU Pronouncing Dictionary through
  ``pronouncing``: the same sounds from the last stressed vowel on); failing that, partial credit for shared
  final letters, so that a near miss beats a line that ends anyhow;
- ``metre``: the line is iambic pentameter: ten syllables, stresses on the even ones (da-DUM x 5). Words
  of one syllable may take either stress, as in verse; a word the dictionary lacks counts its vowel groups
  and is assumed to fit;
- ``word:WORD``: the line says WORD (as a whole word, any case); partial credit for a word that starts
  like it;
- ``short``: the shorter line (in characters).

The scores are deterministic, so a judge's preferences can be reproduced and a tuned model can be measured
against the judge it was tuned for.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from engine.errors import UserError

JUDGES = ("rhyme", "metre", "word:WORD", "short")
TIE = 1e-9  # scores closer than this are a tie
WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
VOWELS_RE = re.compile(r"[aeiouy]+")
IAMB = "0101010101"  # unstressed, stressed, five times


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


def last_word(text: str) -> str:
    found = words(text)
    return found[-1] if found else ""


@functools.lru_cache(maxsize=65_536)
def _phones(word: str) -> tuple[str, ...]:
    import pronouncing  # reads the CMU dictionary (0.6 s) on first use

    return tuple(pronouncing.phones_for_word(word.replace("'", "")) or pronouncing.phones_for_word(word))


@functools.lru_cache(maxsize=65_536)
def rhyming_parts(word: str) -> frozenset[str]:
    """The sounds from the last stressed vowel on, for each of the word's pronunciations ("love" -> {"AH1 V"})."""
    import pronouncing

    return frozenset(pronouncing.rhyming_part(p) for p in _phones(word))


def rhymes(a: str, b: str) -> bool:
    """Two different words whose pronunciations share their sounds from the last stressed vowel on."""
    if not a or not b or a == b:
        return False
    return bool(rhyming_parts(a) & rhyming_parts(b))


def shared_ending(a: str, b: str, up_to: int = 3) -> int:
    """How many final letters two words share (at most ``up_to``)."""
    n = 0
    while n < min(up_to, len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


@functools.lru_cache(maxsize=65_536)
def stress_options(word: str) -> tuple[str, ...]:
    """The word's stress patterns ("1" stressed, "0" not; a secondary stress "2" may go either way, written
    "x"); a word of one syllable is "x" (verse stresses it or not as the line needs); an unknown word is its
    vowel groups' count of "x"."""
    import pronouncing

    found = {pronouncing.stresses(p).replace("2", "x") for p in _phones(word)}
    if not found:
        n = max(1, len(VOWELS_RE.findall(word.rstrip("e") or word)))
        return ("x" * n,)
    return tuple(sorted("x" if len(s) == 1 else s for s in found))


def metre_fit(line: str) -> float:
    """How close a line is to iambic pentameter, in [0, 1]: 1 - (syllables off ten + stresses that clash with
    da-DUM) / 10, choosing each word's best pronunciation from left to right."""
    ws = words(line)
    if not ws:
        return 0.0
    pattern = ""
    clashes = 0
    for w in ws:
        best, best_clash = "", 1 << 30
        for s in stress_options(w):
            target = IAMB[len(pattern):len(pattern) + len(s)]
            clash = sum(1 for c, t in zip(s, target, strict=False) if c != "x" and c != t)
            if clash < best_clash:
                best, best_clash = s, clash
        pattern += best
        clashes += best_clash
    off = abs(len(pattern) - len(IAMB))
    return max(0.0, 1.0 - (off + clashes) / 10.0)


@dataclass(frozen=True)
class Judge:
    """A scripted judge (module docstring). ``name`` is how it is asked for: "rhyme", "metre", "word:love",
    "short"."""

    name: str

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def word(self) -> str:
        return self.name.split(":", 1)[1] if ":" in self.name else ""

    def score(self, prompt: str, completion: str) -> float:
        line = completion.strip()
        if self.kind == "short":
            return -float(len(line))
        if not words(line):
            return 0.0
        if self.kind == "rhyme":
            target, end = last_word(prompt), last_word(line)
            if rhymes(target, end):
                return 1.0
            return 0.5 * shared_ending(target, end) / 3 if end != target else 0.0
        if self.kind == "metre":
            return metre_fit(line)
        w = self.word.lower()
        said = words(line)
        if w in said:
            return 1.0 + 0.1 * (said.count(w) - 1)
        return 0.5 * max((len(_common_prefix(w, s)) / len(w) for s in said), default=0.0) ** 2

    def prefer(self, prompt: str, a: str, b: str) -> int:
        """+1 when ``a`` is the better continuation, -1 when ``b`` is, 0 for a tie."""
        sa, sb = self.score(prompt, a), self.score(prompt, b)
        return 0 if abs(sa - sb) <= TIE else (1 if sa > sb else -1)

    def describe(self) -> str:
        return {"rhyme": "prefers a line whose last word rhymes with the prompt's last word",
                "metre": "prefers a line in iambic pentameter (ten syllables, da-DUM x 5)",
                "short": "prefers the shorter line",
                "word": f"prefers a line that says \u201c{self.word}\u201d"}[self.kind]


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def make_judge(name: str) -> Judge:
    """"rhyme", "metre", "short" or "word:WORD" -> a Judge; anything else is a UserError."""
    name = (name or "").strip()
    kind, _, word = name.partition(":")
    if kind == "word":
        word = word.strip()
        if not WORD_RE.fullmatch(word or ""):
            raise UserError(f"word judge needs a word of letters, as word:love (got {name!r})")
        return Judge(f"word:{word.lower()}")
    if kind in ("rhyme", "metre", "short") and not word:
        return Judge(kind)
    raise UserError(f"unknown judge {name!r}; use one of {', '.join(JUDGES)}")
