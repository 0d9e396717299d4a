"""What the Feedback and the RLHF training views share: the preference pairs and the reward model, and which
model each was made with (a reward model reads its own vocabulary: it is never used with a model whose
vocabulary differs).

One :class:`RlhfSession` per app, reached by both views through :func:`session_of` (an attribute of the
AppContext, made on first use). The pairs are plain data; the reward model (engine.rlhf.reward.RewardModel)
is only handed to engine jobs, as a ModelRef's handle is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef
    from engine.rlhf.prefs import Pair


@dataclass(frozen=True)
class MadeWith:
    """The model something was made with, as the GUI knows it."""

    key: str
    name: str
    vocabulary: tuple[str, int]  # tokenizer kind, vocabulary size

    @classmethod
    def of(cls, ref: ModelRef) -> MadeWith:
        return cls(ref.key, ref.name, vocabulary(ref))


def vocabulary(ref: ModelRef) -> tuple[str, int]:
    return str(ref.facts.get("tokenizer", "")), int(ref.facts.get("vocab_size", 0) or 0)


class RlhfSession(QObject):
    pairsChanged = Signal()
    rewardChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pairs: list[Pair] = []
        self.pairs_made_with: MadeWith | None = None  # the model whose samples the user (or a judge) compared
        self.reward: Any = None  # engine.rlhf.reward.RewardModel: engine thread only
        self.reward_made_with: MadeWith | None = None
        self.reward_accuracy: float | None = None
        self.judge = ""  # the judge last chosen in the Feedback view ("" none)

    # --- the pairs ------------------------------------------------------------------------------------

    def add_pairs(self, pairs: list[Pair], ref: ModelRef | None) -> None:
        if not pairs:
            return
        if self.pairs_made_with is None and ref is not None:
            self.pairs_made_with = MadeWith.of(ref)
        self.pairs.extend(pairs)
        self.pairsChanged.emit()

    def set_pairs(self, pairs: list[Pair], ref: ModelRef | None) -> None:
        self.pairs = list(pairs)
        self.pairs_made_with = MadeWith.of(ref) if ref is not None and pairs else None
        self.pairsChanged.emit()

    def counts(self) -> dict[str, int]:
        """Pairs by who judged them: "user", "judge:rhyme", ... (in order of first appearance)."""
        out: dict[str, int] = {}
        for p in self.pairs:
            out[p.source] = out.get(p.source, 0) + 1
        return out

    def describe_pairs(self) -> str:
        if not self.pairs:
            return "no preference pairs yet"
        counts = self.counts()
        mine = counts.pop("user", 0)
        ties = sum(1 for p in self.pairs if p.tie)
        parts = [f"{mine:,} by you"] + [f"{n:,} by {s.removeprefix('judge:')}" if s.startswith("judge:") else
                                          f"{n:,} from {s}" for s, n in counts.items()]
        tie = f", {ties:,} tie{'s' if ties > 1 else ''}" if ties else ""
        return f"{len(self.pairs):,} pairs ({', '.join(parts)}{tie})"

    # --- the reward model ------------------------------------------------------------------------------

    def set_reward(self, reward: Any, ref: ModelRef, accuracy: float | None) -> None:
        self.reward, self.reward_made_with, self.reward_accuracy = reward, MadeWith.of(ref), accuracy
        self.rewardChanged.emit()

    def reward_for(self, ref: ModelRef | None) -> tuple[Any, str]:
        """The reward model if it can score ``ref``'s lines (same vocabulary), and what to say about it."""
        made = self.reward_made_with
        if self.reward is None or made is None:
            return None, "no reward model yet: train one in the Feedback view"
        if ref is None or vocabulary(ref) != made.vocabulary:
            return None, (f"the reward model was made from {made.name}, whose vocabulary differs from this "
                          "model's; train one from this model's samples in the Feedback view")
        if made.key != ref.key:
            return self.reward, f"the reward model was made from {made.name}"
        return self.reward, ""

    def made_from_other(self, ref: ModelRef | None) -> str:
        """What the header says when the pairs or the reward model were made from another model ("" none)."""
        if ref is None:
            return ""
        others = []
        if self.pairs and self.pairs_made_with is not None and self.pairs_made_with.key != ref.key:
            others.append(f"the pairs were made from {self.pairs_made_with.name}")
        if self.reward_made_with is not None and self.reward_made_with.key != ref.key:
            same = vocabulary(ref) == self.reward_made_with.vocabulary
            others.append(f"the reward model was made from {self.reward_made_with.name}"
                          + ("" if same else " (another vocabulary: not used with this model)"))
        return "; ".join(others)


def session_of(ctx: AppContext) -> RlhfSession:
    """The app's one RLHF session (made on first use, owned by the context)."""
    session = getattr(ctx, "rlhf_session", None)
    if session is None:
        session = RlhfSession(ctx)
        ctx.rlhf_session = session  # type: ignore[attr-defined]
    return session
