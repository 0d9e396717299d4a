"""The Ablation view: click a head to switch it off and see at once what the model predicts without it.

What is switched off is a head's output z_i^(h) = sum_j alpha_ij^(h) V^(h)(x_j) (seed 002 Eq. 11.13-11.14)
before the heads are concatenated: set to zero, or to its mean over the text's positions (it then carries
no information about which token is where); engine.interp.ablation does it, in one forward pass.

- The head grid (the same L x H thumbnails as the Attention view): a click switches that head off (and
  the others back on), shift- or ctrl-click switches several off or one back on; heads off are greyed and
  crossed out. "Reset" switches them all back on.
- The next-token bars after the whole text, before and with the heads off, and the per-token loss
  -log p(x_{t+1}) of the text, clean beside ablated (coloured by the change).
- Every head's effect: the L x H heatmap of the loss change when that head alone is off (computed at once on
  small models; on SmolLM2 it takes seconds, with a busy indicator and Cancel). A click there switches that
  head off too.

The header says which model, which text and which heads are off. Another model keeps the heads that it
has (the others are switched back on, said in the header); the pictures are of the model and text named,
never of the last ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSplitter, QVBoxLayout, QWidget

from app.views.ablation.plots import LossStrip
from app.views.attention.plots import AttentionGrid
from app.views.attention.view import quoted
from app.views.base import View
from app.widgets.bars import TopBars
from app.widgets.head_map import EffectMap
from app.widgets.names import named
from app.widgets.text import plural, shown_token
from engine.capture import AttentionPicture, attention_picture
from engine.interp.ablation import HeadEffect, Intervention, Site, every_head_effect, intervene
from engine.interp.encoder import (
    EmbeddingChange,
    HeadEmbeddingEffect,
    every_head_embedding_effect,
    intervene_encoder,
    is_encoder,
)
from engine.tasks import CancelToken
from engine.training import PROBE_TEXT

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef

AUTO_EFFECT_PARAMETERS = 20_000_000  # below this, every head's effect is computed with each text (milliseconds)
TOP = 10
_EMPTY = np.zeros((0, 0, 1, 1), dtype=np.float32)  # a grid of no heads
MODES = {"zero": "zero (the head adds nothing)", "mean": "mean (its mean over the text's positions)"}


def heads_label(heads: list[tuple[int, int]]) -> str:
    return ", ".join(f"{layer}.{head}" for layer, head in heads)


class AblationView(View):
    key = "ablation"
    title = "Ablation"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.off: list[tuple[int, int]] = []  # the heads switched off, in the order clicked
        self.result: Intervention | EmbeddingChange | None = None
        self.effect: HeadEffect | HeadEmbeddingEffect | None = None
        self.picture: AttentionPicture | None = None
        self.shown: tuple = ()  # (model, text) the pictures are of
        self.note = ""  # why heads were switched back on (another model)

        self.text = named(QLineEdit(PROBE_TEXT), "ablation.text", "Text whose loss and next token are shown")
        self.mode = named(QComboBox(), "ablation.mode", "How a head is switched off",
                          "zero: the head's output z is replaced by 0; mean: by its mean over the text's positions")
        for k, label in MODES.items():
            self.mode.addItem(label, k)
        self.reset_btn = named(QPushButton("Reset"), "ablation.reset", "Switch every head back on")
        self.effect_btn = named(QPushButton("Every head's effect"), "ablation.effect", "Compute every head's effect",
                                "Switch off each head alone and measure the loss of the text: the L x H heatmap")
        self.off_label = named(QLabel(), "ablation.off", "The heads switched off")
        self.off_label.setWordWrap(True)
        self.summary = named(QLabel(), "ablation.summary", "The loss before and after")
        self.summary.setWordWrap(True)

        self.grid = named(AttentionGrid(), "ablation.grid", "Every head: click to switch it off")
        self.grid.click_hint = "click to switch it off (shift-click: several, or one back on)"
        self.effect_map = named(EffectMap(), "ablation.effect-map", "Every head's effect on the loss")
        self.before_bars = named(TopBars(), "ablation.before", "Next token with every head on")
        self.after_bars = named(TopBars(), "ablation.after", "Next token with the heads off")
        self.strip = named(LossStrip(), "ablation.strip", "Per-token loss before and after")

        top = QHBoxLayout()
        top.addWidget(QLabel("text"))
        top.addWidget(self.text, 1)
        top.addWidget(QLabel("switch off by"))
        top.addWidget(self.mode)
        top.addWidget(self.reset_btn)
        top.addWidget(self.effect_btn)
        self.layout_.addLayout(top)
        self.layout_.addWidget(self.off_label)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.grid)
        left.addWidget(self.effect_map)
        left.setSizes([380, 300])
        bars = QWidget()
        bl = QHBoxLayout(bars)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.before_bars)
        bl.addWidget(self.after_bars)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.summary)
        rl.addWidget(bars, 3)
        rl.addWidget(self.strip, 2)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([560, 560])
        self.layout_.addWidget(split, 1)

        self._debounce = self.debounced(self.refresh, 200, self.text)
        self.mode.currentIndexChanged.connect(lambda _: self.refresh())
        self.reset_btn.clicked.connect(self.reset)
        self.effect_btn.clicked.connect(self.compute_effect)
        self.grid.panelClickedWith.connect(self.clicked)
        self.effect_map.headClicked.connect(self.clicked)
        self._show_off()
        self.show_source("loading the model\u2026")

    # --- inputs ---------------------------------------------------------------------------------

    @property
    def ablation_mode(self) -> str:
        return str(self.mode.currentData())

    def _model_key(self, ref: ModelRef) -> tuple:
        return (ref.key, ref.step, id(ref.handle))

    def _now(self) -> tuple:
        """What the pictures must be of: the model, the text (the heads and mode are asked with each job)."""
        ref = self.ctx.model
        return (self._model_key(ref) if ref is not None else None, self.text.text())

    def clicked(self, layer: int, head: int, modifiers: Any = None) -> None:
        """A click on a head: that head alone off (a click on the only head off: back on); with shift or ctrl
        held, that head off too, or back on."""
        several = modifiers is not None and bool(
            modifiers & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))
        h = (layer, head)
        if several:
            self.off = [x for x in self.off if x != h] if h in self.off else [*self.off, h]
        else:
            self.off = [] if self.off == [h] else [h]
        self.note = ""
        self._show_off()
        self.ablate()

    def set_off(self, heads: list[tuple[int, int]]) -> None:
        """Switch exactly ``heads`` off (scripts, tests)."""
        self.off = list(dict.fromkeys(heads))
        self.note = ""
        self._show_off()
        self.ablate()

    def reset(self) -> None:
        self.set_off([])

    def _show_off(self) -> None:
        self.grid.mark_off(set(self.off))
        self.effect_map.mark_off(set(self.off))
        if self.off:
            self.off_label.setText(f"Switched off ({self.ablation_mode}): {heads_label(self.off)}. Click a head to "
                                   "switch off that one instead, shift-click to switch off several or one back on.")
        else:
            self.off_label.setText("Every head is on. Click a head in the grid or the heatmap to switch it off "
                                   "(shift-click: several).")
        if self.note:
            self.off_label.setText(f"{self.note} {self.off_label.text()}")
        self._say_source()

    def _say_source(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        text = self.text.text()
        tokens = f" ({plural(len(self.result.tokens), 'token')})" if self.result is not None else ""
        heads = (f"heads off: {heads_label(self.off)} ({self.ablation_mode})" if self.off else "every head on")
        self.show_source(ref.label(), f"text {quoted(text)}{tokens} \u00b7 {heads}",
                         f"{ref.label()}\ntext: {text[:500]}\n{heads}")

    # --- the engine -------------------------------------------------------------------------------

    def refresh(self) -> None:
        ref, text = self.ctx.model, self.text.text()
        if ref is None:
            return
        L, H = int(ref.facts.get("L", 0)), int(ref.facts.get("H", 0))
        gone = [h for h in self.off if not (h[0] < L and h[1] < H)]
        if gone:
            self.off = [h for h in self.off if h not in gone]
            self.note = (f"{ref.name} has {L} layers x {H} heads: {heads_label(gone)} switched back on.")
        now = self._now()
        if now != self.shown:  # the pictures are of another model or text: none rather than a stale one
            self.clear_pictures()
        self._show_off()
        if not text:
            self.show_source(ref.label(), "type a text")
            return
        handle = ref.handle

        def picture(token: CancelToken) -> AttentionPicture:
            return attention_picture(handle.model, handle.tokenizer, text, keep=(), scores=False, token=token)

        self.run(picture, lambda p, n=now: self._got_picture(p, n), key="picture", what="computing attention",
                 cancellable=True)
        self.ablate()
        self.effect = None
        if int(ref.facts.get("parameters", 0)) < AUTO_EFFECT_PARAMETERS:
            self.compute_effect()
        else:
            self.effect_map.clear_effect("Every head's effect: press \u201cEvery head's effect\u201d (this model "
                                         "takes several seconds)")

    def clear_pictures(self) -> None:
        self.result = self.effect = self.picture = None
        self.grid.show_matrices(_EMPTY, 0.0, 1.0)
        self.before_bars.clear_bars()
        self.after_bars.clear_bars()
        self.strip.clear_losses()
        self.summary.setText("")
        self.effect_map.clear_effect("")
        self.shown = self._now()

    def ablate(self) -> None:
        """The text with the heads in ``off`` switched off (engine thread)."""
        ref, text = self.ctx.model, self.text.text()
        if ref is None or not text:
            return
        handle, now = ref.handle, self._now()
        sites = [Site(layer, head) for layer, head in self.off]
        mode = self.ablation_mode

        def job() -> Intervention | EmbeddingChange:
            if is_encoder(handle.model):  # no next token: what moves is the encoder's output
                return intervene_encoder(handle.model, handle.tokenizer, text, sites, mode)
            return intervene(handle.model, handle.tokenizer, text, sites, mode, top=TOP)

        what = f"switching off {heads_label(self.off)}" if self.off else "scoring the text"
        self.run(job, lambda r, n=now: self._ablated(r, n), key="intervene", what=what,
                 on_error=lambda e, n=now: self._failed(e, n))

    def compute_effect(self) -> None:
        ref, text = self.ctx.model, self.text.text()
        if ref is None or not text:
            return
        handle, now, mode = ref.handle, self._now(), self.ablation_mode

        def job(token: CancelToken) -> HeadEffect | HeadEmbeddingEffect:
            if is_encoder(handle.model):
                return every_head_embedding_effect(handle.model, handle.tokenizer, text, mode, token=token)
            return every_head_effect(handle.model, handle.tokenizer, text, mode, token=token)

        self.effect_map.clear_effect(f"Every head's effect: switching each of the {ref.facts.get('L', 0)} x "
                                     f"{ref.facts.get('H', 0)} heads off in turn\u2026")
        self.run(job, lambda e, n=now: self._got_effect(e, n), key="effect", what="every head's effect",
                 cancellable=True, on_error=lambda e, n=now: self._failed(e, n))

    # --- results ----------------------------------------------------------------------------------

    def _failed(self, text: str, now: tuple) -> None:
        if now != self._now():
            return
        self.before_bars.clear_bars()
        self.after_bars.clear_bars()
        self.strip.clear_losses()
        self.effect_map.clear_effect("")
        self.summary.setText("")
        self.show_error(text)

    def _got_picture(self, picture: AttentionPicture, now: tuple) -> None:
        if now != self._now():
            return
        self.picture = picture
        self.grid.show_matrices(picture.tiles, 0.0, 1.0)
        self.grid.mark_off(set(self.off))

    def _got_effect(self, effect: HeadEffect | HeadEmbeddingEffect, now: tuple) -> None:
        if now != self._now() or effect.mode != self.ablation_mode:
            return
        self.effect = effect
        self.effect_map.off = set(self.off)
        if isinstance(effect, HeadEmbeddingEffect):
            self.effect_map.show_effect(effect.effect, f"Each head off alone ({effect.mode}): embedding change, "
                                        "1 - cos",
                                        "sentence embedding change (1 - cos)", "embedding change {:.5f} (1 - cos)")
            return
        self.effect_map.show_effect(effect.effect, f"Each head off alone ({effect.mode}): loss change from "
                                                   f"{effect.loss_before:.3f} (red: the head helps)")

    def _ablated(self, r: Intervention | EmbeddingChange, now: tuple) -> None:
        if now != self._now() or r.sites != [f"{a}.{b}" for a, b in self.off] or r.mode != self.ablation_mode:
            return  # the user clicked again meanwhile: that job brings the picture
        self.result = r
        self.shown = now
        if isinstance(r, EmbeddingChange):
            self._show_embedding_change(r)
            return
        self.before_bars.show()
        self.after_bars.setLabel("bottom", "probability")
        self.before_bars.show_top(r.top_before, "next token, every head on")
        marked = r.top_before[0][0] if r.top_before else None
        title = f"{heads_label(self.off)} off" if self.off else "every head on (switch some off)"
        self.after_bars.show_top(r.top_after, f"{title}: KL {float(r.kl[-1]):.3f} nats", marked=marked)
        hi = max([p for _, p in r.top_before + r.top_after], default=1.0) * 1.05
        for bars in (self.before_bars, self.after_bars):  # one scale: the two are compared by length
            bars.setXRange(0, hi)
        self.strip.show_losses(r.tokens[1:], r.per_token_before, r.per_token_after,
                               "-log p per token: grey every head on, coloured heads off (red worse, blue better)")
        change = r.loss_after - r.loss_before
        cut = f" The text is longer than the context: its first {r.truncated:,} tokens are left out." \
            if r.truncated else ""
        top_b = shown_token(r.top_before[0][0]) if r.top_before else "?"
        top_a = shown_token(r.top_after[0][0]) if r.top_after else "?"
        self.summary.setText(
            f"Loss of the text: {r.loss_before:.4f} \u2192 {r.loss_after:.4f} nats/token ({change:+.4f}); "
            f"most probable token after the text '{top_b}' \u2192 '{top_a}' (orange: the first choice with every "
            f"head on).{cut}")
        self._say_source()
        self.mark_painted()

    def _show_embedding_change(self, r: EmbeddingChange) -> None:
        """An encoder: the sentence embedding's cosine to the clean one, and which tokens' vectors moved."""
        self.before_bars.hide()  # there is no "before" ranking: every token is where it was
        title = f"{heads_label(self.off)} off" if self.off else "every head on (switch some off)"
        self.after_bars.show_top(r.most_moved(TOP), f"{title}: the tokens that moved most")
        self.after_bars.setLabel("bottom", "1 - cosine to the clean output vector")
        self.after_bars.setXRange(0, max([c for _, c in r.most_moved(1)] + [0.01]) * 1.05)
        self.strip.show_losses(r.tokens, np.zeros(len(r.tokens)), r.per_token,
                               "1 - cosine of each token's output vector to the clean one (red: moved)",
                               axis="1 - cos", unit="(1 - cos)", least=0.05)
        cut = f" The text is longer than the context: its last {r.truncated:,} tokens are left out." \
            if r.truncated else ""
        moved = r.most_moved(1)
        most = f"; the token that moved most: '{shown_token(moved[0][0])}' ({moved[0][1]:.4f})" \
            if moved and moved[0][1] > 0 else ""
        self.summary.setText(
            f"{self.ctx.model.name if self.ctx.model else 'This model'} is an encoder: it predicts no next token, "
            f"so what is measured is its output. Sentence embedding (the mean of the output vectors, as "
            f"sentence-transformers pools it): cosine to the clean one <b>{r.cosine:.5f}</b> (change "
            f"{r.change:.5f}){most}.{cut}")
        self._say_source()
        self.mark_painted()

    def model_changed(self, ref: ModelRef) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self.clear_pictures()  # hidden: nothing of the old model stays to be seen when it is shown
            self.mark_stale(f"now on {ref.name}")
