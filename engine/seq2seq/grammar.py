"""A translation task generated from a grammar: English-like sentences and a verb-final target language.

Seed 002, 11.2.1 translates Japanese ("ko re wa ii de wa nai") with an RNN encoder-decoder and notes that
the languages' different grammars are what makes long sentences hard: the word that decides the meaning
may stand at the other end of the sentence. This task has that property by construction, with a lexicon
of a few thousand word types and sentences of 3 to 50 words, so that both word order and length matter.

Source grammar (every sentence has exactly one parse; :func:`check_lexicon` makes every surface form
belong to one part of speech, so the translation is a function of the source text)::

    S       -> Clause | Clause "but" Clause | Clause "because" Clause
    Clause  -> NPmain Vtrans NPmain [Adv] | NPmain Vintr [PP] [Adv]
    NPmain  -> NP | NP "and" NP                      coordination (only here: never inside PP or RC)
    NP      -> Det Adj{0..2} N [PP] [RC]             "the old man near the house that sees the dog"
    PP      -> Prep NPs                              "near the small house"
    NPs     -> Det Adj{0..2} N                       simple: no PP, no RC, no coordination
    RC      -> "that" Vtrans NPr | "that" Vintr | "that" NPs Vtrans      subject / object relatives
    NPr     -> Det Adj{0..2} N [PP]
    Verb    -> V (present, agreeing with its subject: sees / see) | V-past (saw)
             | "does not" V | "do not" V | "did not" V                   negation

Target language (Japanese-like, as seed 002's example): verb-final, postpositions, case particles
marking subject ("ga") and object ("wo"), modifiers and relative clauses before the noun::

    Clause  -> NPmain' "ga" [PP'] [NPmain' "wo"] [Adv'] Verb'           (SOV; adverbs before the verb)
    Verb'   -> stem ("ru" present | "ta" past | "nai" not | "nakatta" did not)
    NPmain' -> NP' | NP' "to" NP'                                       ("to": and)
    NP'     -> [RC'] [PP' "no"] [Det'] Adj'* N' ["tachi" if plural]   (RC and PP move before the noun)
    PP'     -> NPs' Postp'                                              (prepositions become postpositions)
    RC'     -> [NPr' "wo"] Verb' | NPs' "ga" Verb'                      (no relative pronoun)
    S'      -> C1' "kedo" C2'  (but)   |   C2' "kara" C1'  (C1 because C2: the reason first)

"the" and "a" have no translation; the other determiners have one word each. So
"the old man sees the small dog" -> "furui otoko ga chiisai inu wo mi ru", and "our cruel uncle threw my
pilot because a musician that follows the duke walks" puts the reason first: "motsewa wo hopishe ru wage
ga aruki ru kara hedi eshi tisha ga watashino kikino wo azozi ta". Each target word records the source
word it translates (``Pair.align``, -1 for particles), the true alignment a view can
lay beside the learned one.

Sentences are drawn by :class:`Grammar` from a seeded ``random.Random``, with a complexity knob that
spreads the lengths from 3 to 50 words; :meth:`Grammar.split` draws a held-out test set balanced over
length buckets and a training stream that never yields a test sentence. Target words other than the
hand-picked ones (``lexicon.TARGET_FIXED``) are made up from Japanese-like syllables by a fixed seed: the
language is the same for every data seed. Words are drawn uniformly within their part of speech (a flat
distribution), so that no rare word decides exact match.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from engine.errors import UserError
from engine.seq2seq import lexicon

EXAMPLE = "the old man sees the small dog"
TARGET_PARTICLES = ("ga", "wo", "no", "to", "tachi", "ru", "ta", "nai", "nakatta", "kedo", "kara")
VERB_SUFFIX = {("present", False): "ru", ("past", False): "ta", ("present", True): "nai", ("past", True): "nakatta"}
CONNECTORS = ("but", "because")
MIN_WORDS = 3
MAX_WORDS = 50
LEXICON_SEED = 20240514
# "small": the first words of each part of speech, the default, learnt in minutes on a CPU (~1,000 word
# types in both languages); "full": every word of engine.seq2seq.lexicon (~2,400 word types)
LEXICON_SIZES: dict[str, dict[str, int] | None] = {
    "small": {"nouns": 150, "trans": 50, "intr": 20, "adjs": 60, "advs": 12}, "full": None}
DEFAULT_LEXICON = "small"


@dataclass(frozen=True)
class Pair:
    """One sentence and its translation, word by word; ``align[j]`` is the source word target word j
    translates (-1: a particle of the target language with no source word)."""

    source: tuple[str, ...]
    target: tuple[str, ...]
    align: tuple[int, ...] = ()

    @property
    def src_text(self) -> str:
        return " ".join(self.source)

    @property
    def tgt_text(self) -> str:
        return " ".join(self.target)


# --- the lexicon --------------------------------------------------------------------------------


def _plural(noun: str) -> str:
    if noun in lexicon.IRREGULAR_PLURALS:
        return lexicon.IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _third(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _past(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


@dataclass(frozen=True)
class Noun:
    lemma: str
    sg: str
    pl: str


@dataclass(frozen=True)
class Verb:
    lemma: str
    base: str
    third: str
    past: str


@dataclass
class Lexicon:
    """Parts of speech with their surface forms, and the target word of every lemma."""

    nouns: list[Noun]
    trans: list[Verb]
    intr: list[Verb]
    adjs: list[str]
    advs: list[str]
    preps: list[str]
    dets: list[tuple[str, str]]
    target: dict[str, str] = field(default_factory=dict)  # (lemma or function word) -> target word

    def source_words(self) -> list[str]:
        words = [f for n in self.nouns for f in (n.sg, n.pl)]
        words += [f for v in self.trans + self.intr for f in (v.base, v.third, v.past)]
        words += self.adjs + self.advs + self.preps + [d for d, _ in self.dets]
        words += ["that", "and", "does", "do", "did", "not", *CONNECTORS]
        return sorted(set(words))

    def target_words(self) -> list[str]:
        return sorted(set(self.target.values()) | set(TARGET_PARTICLES))


def _words(text: str) -> list[str]:
    return text.split()


def _verbs(text: str) -> list[Verb]:
    out = []
    for item in text.split():
        base, _, past = item.partition(":")
        out.append(Verb(base, base, _third(base), past or _past(base)))
    return out


@cache
def build_lexicon(size: str = "full") -> Lexicon:
    """The lexicon, with every surface form owned by one lemma of one part of speech (see
    :func:`check_lexicon`): a later entry whose forms clash with an earlier one is left out. ``size``
    "small" keeps the first words of each part of speech (:data:`LEXICON_SIZES`), with the same target
    words as in "full"."""
    if size not in LEXICON_SIZES:
        raise UserError(f"unknown lexicon {size!r}; use one of {', '.join(LEXICON_SIZES)}")
    owner: dict[str, str] = {w: "function" for w in ("that", "and", "does", "do", "did", "not", *CONNECTORS)}
    owner.update({d: "function" for d, _ in lexicon.DETERMINERS})
    owner.update({p: "function" for p in _words(lexicon.PREPOSITIONS)})

    def claim(forms: tuple[str, ...], key: str) -> bool:
        if len(set(forms)) != len(forms) or any(owner.get(f, key) != key for f in forms):
            return False
        for f in forms:
            owner[f] = key
        return True

    nouns = [Noun(n, n, _plural(n)) for n in dict.fromkeys(_words(lexicon.NOUNS))]
    nouns = [n for n in nouns if claim((n.sg, n.pl), "n:" + n.lemma)]
    trans = list({v.lemma: v for v in reversed(_verbs(lexicon.TRANSITIVE))}.values())[::-1]
    trans = [v for v in trans if claim((v.base, v.third, v.past), "v:" + v.lemma)]
    known = {v.lemma for v in trans}
    intr = list({v.lemma: v for v in reversed(_verbs(lexicon.INTRANSITIVE))}.values())[::-1]
    intr = [v for v in intr if v.lemma not in known and claim((v.base, v.third, v.past), "v:" + v.lemma)]
    adjs = [a for a in dict.fromkeys(_words(lexicon.ADJECTIVES)) if claim((a,), "a:" + a)]
    advs = [a for a in dict.fromkeys(_words(lexicon.ADVERBS)) if claim((a,), "r:" + a)]
    lex = Lexicon(nouns, trans, intr, adjs, advs, _words(lexicon.PREPOSITIONS), list(lexicon.DETERMINERS))
    lex.target = _target_words(lex)
    keep = LEXICON_SIZES[size]
    if keep:
        lex = Lexicon(nouns[:keep["nouns"]], trans[:keep["trans"]], intr[:keep["intr"]], adjs[:keep["adjs"]],
                      advs[:keep["advs"]], lex.preps, lex.dets, lex.target)
        used = {n.lemma for n in lex.nouns} | {v.lemma for v in lex.trans + lex.intr} | set(lex.adjs) | \
            set(lex.advs) | set(lex.preps) | {d for d, _ in lex.dets}
        lex.target = {k: v for k, v in lex.target.items() if k in used}
    check_lexicon(lex)
    return lex


def _target_words(lex: Lexicon) -> dict[str, str]:
    """A target word for each lemma and function word: the hand-picked ones, the rest made of 2 to 3
    Japanese-like syllables (a fixed seed, so the language never changes), all different."""
    lemmas = [n.lemma for n in lex.nouns] + [v.lemma for v in lex.trans + lex.intr] + lex.adjs + lex.advs
    lemmas += lex.preps + [d for d, _ in lex.dets if d not in ("the", "a")]
    rng = random.Random(LEXICON_SEED)
    onsets = ["", "k", "s", "t", "n", "h", "m", "y", "r", "w", "g", "z", "d", "b", "p", "sh", "ch", "ts"]
    vowels = ["a", "i", "u", "e", "o"]
    taken = set(TARGET_PARTICLES) | set(lexicon.TARGET_FIXED.values())
    out: dict[str, str] = {}
    for lemma in lemmas:
        if lemma in lexicon.TARGET_FIXED:
            out[lemma] = lexicon.TARGET_FIXED[lemma]
            continue
        while True:
            word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.choice((2, 2, 3))))
            if word not in taken:
                break
        taken.add(word)
        out[lemma] = word
    return out


def check_lexicon(lex: Lexicon) -> None:
    """Every source surface form in one part of speech; target words distinct per lemma."""
    seen: dict[str, str] = {}
    groups = {"noun": [f for n in lex.nouns for f in (n.sg, n.pl)],
              "verb": [f for v in lex.trans + lex.intr for f in (v.base, v.third, v.past)],
              "adjective": lex.adjs, "adverb": lex.advs, "preposition": lex.preps,
              "determiner": [d for d, _ in lex.dets], "function": ["that", "and", "does", "do", "did", "not",
                                                                   *CONNECTORS]}
    for pos, forms in groups.items():
        for f in forms:
            if seen.setdefault(f, pos) != pos:
                raise ValueError(f"{f!r} is both a {seen[f]} and a {pos}")
    values = list(lex.target.values())
    if len(values) != len(set(values)):
        raise ValueError("two lemmas share a target word")


# --- generation ---------------------------------------------------------------------------------


@dataclass
class _Piece:
    src: list[str]
    tgt: list[tuple[str, int]]  # (word, index into src or -1)


def _join_src(*pieces: _Piece) -> tuple[list[str], list[int]]:
    """Source words of pieces in order, and each piece's offset."""
    src: list[str] = []
    offsets = []
    for p in pieces:
        offsets.append(len(src))
        src += p.src
    return src, offsets


def _shift(p: _Piece, offset: int) -> list[tuple[str, int]]:
    return [(w, i + offset if i >= 0 else -1) for w, i in p.tgt]


def _word(source: str, target: str | None) -> _Piece:
    return _Piece([source], [(target, 0)] if target is not None else [])


def _particle(target: str) -> _Piece:
    return _Piece([], [(target, -1)])


def _seq(src_order: list[_Piece], tgt_order: list[_Piece]) -> _Piece:
    """A constituent whose source is ``src_order`` concatenated and whose target is ``tgt_order`` (the same
    pieces, possibly reordered, plus particles) concatenated."""
    src, offsets = _join_src(*src_order)
    where = {id(p): off for p, off in zip(src_order, offsets, strict=True)}
    tgt: list[tuple[str, int]] = []
    for p in tgt_order:
        if id(p) in where:
            tgt += _shift(p, where[id(p)])
        else:  # a particle: no source words
            tgt += p.tgt
    return _Piece(src, tgt)


class Grammar:
    """Draws sentence pairs from the grammar of the module docstring (see :meth:`sentence`)."""

    def __init__(self, lexicon_size: str = DEFAULT_LEXICON) -> None:
        self.lexicon_size = lexicon_size
        self.lex = build_lexicon(lexicon_size)
        self.t = self.lex.target

    # --- pieces -----------------------------------------------------------------------------

    def _det(self, rng: random.Random, number: str) -> _Piece:
        options = [(d, n) for d, n in self.lex.dets if n in (number, "any")]
        d, _ = rng.choice(options)
        return _word(d, self.t.get(d))

    def _nps(self, rng: random.Random, c: float, number: str | None = None) -> tuple[_Piece, str]:
        """Det Adj{0..2} N: (piece, its number)."""
        number = number or ("pl" if rng.random() < 0.3 else "sg")
        noun = rng.choice(self.lex.nouns)
        det = self._det(rng, number)
        n_adj = sum(rng.random() < 0.25 + 0.35 * c for _ in range(2))
        adjs = [_word(a, self.t[a]) for a in rng.sample(self.lex.adjs, n_adj)]
        n = _word(noun.sg if number == "sg" else noun.pl, self.t[noun.lemma])
        tgt = [det, *adjs, n] + ([_particle("tachi")] if number == "pl" else [])
        return _seq([det, *adjs, n], tgt), number

    def _pp(self, rng: random.Random, c: float) -> _Piece:
        prep = rng.choice(self.lex.preps)
        p = _word(prep, self.t[prep])
        obj, _ = self._nps(rng, c)
        return _seq([p, obj], [obj, p])

    def _verb(self, rng: random.Random, verb: Verb, number: str, c: float) -> _Piece:
        """The verb group agreeing with a subject of ``number``; target: stem + tense/negation suffix."""
        tense = "past" if rng.random() < 0.4 else "present"
        negated = rng.random() < 0.12 + 0.1 * c
        if not negated:
            form = verb.past if tense == "past" else (verb.third if number == "sg" else verb.base)
            stem = _word(form, self.t[verb.lemma])
            return _seq([stem], [stem, _particle(VERB_SUFFIX[(tense, False)])])
        aux = "did" if tense == "past" else ("does" if number == "sg" else "do")
        words = [_word(aux, None), _word("not", None)]
        stem = _word(verb.base, self.t[verb.lemma])
        # the negation's meaning lands on the target's last word: align "nai" with "not"
        neg = words[1]
        neg.tgt = [(VERB_SUFFIX[(tense, True)], 0)]
        return _seq([*words, stem], [stem, neg])

    def _rc(self, rng: random.Random, c: float, head_number: str) -> _Piece:
        that = _word("that", None)
        kind = rng.random()
        if kind < 0.45:  # subject relative with an object: "that chases the cat (near the house)"
            verb = rng.choice(self.lex.trans)
            v = self._verb(rng, verb, head_number, c)
            obj = self._npr(rng, c)
            return _seq([that, v, obj], [obj, _particle("wo"), v])
        if kind < 0.65:  # intransitive subject relative: "that sleeps"
            v = self._verb(rng, rng.choice(self.lex.intr), head_number, c)
            return _seq([that, v], [v])
        subj, number = self._nps(rng, c)  # object relative: "that the cat sees"
        v = self._verb(rng, rng.choice(self.lex.trans), number, c)
        return _seq([that, subj, v], [subj, _particle("ga"), v])

    def _npr(self, rng: random.Random, c: float) -> _Piece:
        nps, _ = self._nps(rng, c)
        if rng.random() < 0.3 * c:
            pp = self._pp(rng, c)
            return _seq([nps, pp], [pp, _particle("no"), nps])
        return nps

    def _np(self, rng: random.Random, c: float) -> tuple[_Piece, str]:
        nps, number = self._nps(rng, c)
        pp = self._pp(rng, c) if rng.random() < 0.45 * c else None
        rc = self._rc(rng, c, number) if rng.random() < 0.5 * c else None
        src = [nps] + ([pp] if pp else []) + ([rc] if rc else [])
        tgt = ([rc] if rc else []) + ([pp, _particle("no")] if pp else []) + [nps]
        return _seq(src, tgt), number

    def _np_main(self, rng: random.Random, c: float) -> tuple[_Piece, str]:
        first, number = self._np(rng, c)
        if rng.random() < 0.3 * c:
            second, _ = self._np(rng, c)
            and_ = _word("and", None)
            return _seq([first, and_, second], [first, _particle("to"), second]), "pl"
        return first, number

    def _clause(self, rng: random.Random, c: float) -> _Piece:
        subj, number = self._np_main(rng, c)
        adv = _word(a, self.t[a]) if rng.random() < 0.25 and (a := rng.choice(self.lex.advs)) else None
        tail = [adv] if adv else []
        if rng.random() < 0.7:
            v = self._verb(rng, rng.choice(self.lex.trans), number, c)
            obj, _ = self._np_main(rng, c)
            return _seq([subj, v, obj, *tail], [subj, _particle("ga"), obj, _particle("wo"), *tail, v])
        v = self._verb(rng, rng.choice(self.lex.intr), number, c)
        pp = [self._pp(rng, c)] if rng.random() < 0.5 else []
        return _seq([subj, v, *pp, *tail], [subj, _particle("ga"), *pp, *tail, v])

    # --- sentences --------------------------------------------------------------------------

    def sentence(self, rng: random.Random, complexity: float | None = None) -> Pair:
        """One sentence pair. ``complexity`` in [0, 1] (drawn when None) scales the chance of every optional
        part (adjectives, PPs, relative clauses, coordination, a second clause), spreading the lengths."""
        c = rng.random() ** 0.7 if complexity is None else complexity
        while True:
            first = self._clause(rng, c)
            if rng.random() < 0.5 * c:
                conn = rng.choice(CONNECTORS)
                second = self._clause(rng, c)
                word = _word(conn, None)
                if conn == "but":
                    whole = _seq([first, word, second], [first, _particle("kedo"), second])
                else:
                    whole = _seq([first, word, second], [second, _particle("kara"), first])
            else:
                whole = first
            if MIN_WORDS <= len(whole.src) <= MAX_WORDS:
                break
        return _finish(whole)

    def example(self) -> Pair:
        """The showcase pair, "the old man sees the small dog" -> "furui otoko ga chiisai inu wo mi ru"."""
        t = self.t

        def np(adj: str, noun: str) -> _Piece:
            det, a, n = _word("the", None), _word(adj, t[adj]), _word(noun, t[noun])
            return _seq([det, a, n], [det, a, n])

        subj, obj = np("old", "man"), np("small", "dog")
        verb = _word("sees", t["see"])
        v = _seq([verb], [verb, _particle(VERB_SUFFIX[("present", False)])])
        return _finish(_seq([subj, v, obj], [subj, _particle("ga"), obj, _particle("wo"), v]))

    def stream(self, rng: random.Random, exclude: set[str] | frozenset[str] = frozenset()) -> Iterator[Pair]:
        """Pairs forever, never one whose source is in ``exclude`` (the held-out sentences)."""
        while True:
            pair = self.sentence(rng)
            if pair.src_text not in exclude:
                yield pair


def _finish(piece: _Piece) -> Pair:
    target = tuple(w for w, _ in piece.tgt)
    align = tuple(i for _, i in piece.tgt)
    return Pair(tuple(piece.src), target, align)
