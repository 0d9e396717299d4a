"""Every view on the real models installed with the app: SmolLM2-135M-Instruct (Llama: rotary positions, 9 query
heads sharing 3 key/value heads, byte-level BPE, a chat template) and all-MiniLM-L6-v2 (a BERT encoder)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QUrl

from tests.gui.conftest import show


def pick(window, qtbot, name: str) -> None:
    """Choose a packaged model in the picker, as a user does."""
    picker = window.picker
    qtbot.waitUntil(lambda: any(picker.itemData(i) == ("named", name) for i in range(picker.count())),
                    timeout=30_000)
    index = next(i for i in range(picker.count()) if picker.itemData(i) == ("named", name))
    picker.setCurrentIndex(index)
    picker.activated.emit(index)
    qtbot.waitUntil(lambda: window.ctx.model.key == f"named:{name}", timeout=60_000)



def test_smollm2_in_every_view(window, qtbot):
    pick(window, qtbot, "smollm2")
    assert window.picker.currentText().startswith("SmolLM2-135M-Instruct") and "llama" in window.side.text()
    att = show(window, qtbot, "attention")
    qtbot.waitUntil(lambda: att.current.shape[:2] == (30, 9), timeout=60_000)
    assert att.header.source_text().startswith("SmolLM2-135M-Instruct") and att.grid.shape == (30, 9)
    assert att.current.tokens[:2] == ["To", " be"]  # byte-level pieces read as text, no start token
    nt = show(window, qtbot, "next-token")
    assert "nothing predicts x_1" in nt.summary.text() and len(nt.top_tokens) == 21
    tok = show(window, qtbot, "tokens", timeout=180_000)
    assert tok.model.rowCount() == 49_152 and " be" in tok.text.split.tokens
    # a character split into byte tokens is shown once, its further bytes as small "<0x..>" pieces
    painted = tok.painted
    tok.input.setPlainText("Tokyo is 東京.")
    qtbot.waitUntil(lambda: tok.painted > painted and tok.text.split.tokens[:2] == ["To", "kyo"], timeout=30_000)
    shown = tok.text.toPlainText()
    assert shown.count("東") == 1 and shown.count("京") == 1 and "<0x" in shown
    assert len(tok.text.widths) == len(tok.text.split.ids) and sum(tok.text.widths) == len(shown)
    last = shown.index("京")
    assert tok.text.split.tokens[tok.text.token_at_char(last)].strip().startswith(("京", "<0x"))
    dec = show(window, qtbot, "decoding")
    assert dec.state.done and dec.header.source_text().startswith("SmolLM2-135M-Instruct")
    emb = show(window, qtbot, "embeddings")
    assert emb.shown is not None and len(emb.shown) == 500 and emb.header.source_text().startswith("SmolLM2")
    # a token of the 49k vocabulary beyond the 500 most frequent: searched, it joins the picture, selected
    rank = emb.space.find("Paris")
    assert rank is not None and rank >= 500
    emb.search.setText("Paris")
    emb.find_word()
    qtbot.waitUntil(lambda: emb.shown is not None and len(emb.shown) == 501 and emb.selected == 500, timeout=60_000)
    assert emb.shown.words[500].strip() == "Paris" and not emb.header.error_text


def test_chat_answers_streaming_and_shows_where_a_token_looked(window, qtbot):
    chat = show(window, qtbot, "chat")
    assert chat.use_chat_btn.isVisible() and not chat.input.isEnabled()  # the default model cannot chat
    chat.use_chat_btn.click()
    qtbot.waitUntil(lambda: chat.input.isEnabled(), timeout=60_000)
    chat.input.setText("What is the capital of France?")
    chat.send_btn.click()
    qtbot.waitUntil(lambda: chat.job is None and chat.turns and chat.turns[0].done, timeout=120_000)
    turn = chat.turns[0]
    assert "Paris" in turn.answer and all(0.0 < p <= 1.0 for _, _, p in turn.tokens)
    assert "Paris" in chat.transcript.toPlainText() and turn.prompt_ids
    k = next(i for i, (text, _, _) in enumerate(turn.tokens) if "Paris" in text)
    chat._token_clicked(QUrl(f"tok:0:{k}"))
    qtbot.waitUntil(lambda: chat.focus.rows is not None, timeout=60_000)
    L, H, n = chat.focus.rows.shape
    assert (L, H) == (30, 9) and n == len(turn.prompt_ids) + k + 1
    assert np.allclose(chat.focus.rows.sum(-1), 1.0, atol=1e-3)  # each head's weights over the earlier tokens
    assert "Most attended, averaged over the 270 heads" in chat.focus_label.text()
    # a question longer than the context: one line in the view, the question back in the input, nothing lost
    long_question = "東京 " * 6000
    chat.input.setText(long_question)
    chat.send_btn.click()
    qtbot.waitUntil(lambda: "context is 8,192" in chat.header.error_text, timeout=60_000)
    assert chat.input.text() == long_question.strip() and len(chat.turns) == 1 and chat.turns[0] is turn
    assert "Paris" in chat.transcript.toPlainText() and chat.send_btn.isEnabled()
    # another model for a while: its chat is its own; back on SmolLM2, the conversation is as it was
    window.ctx.use_default()
    qtbot.waitUntil(lambda: chat.notice.isVisible() and "Paris" not in chat.transcript.toPlainText(), timeout=30_000)
    assert chat.header.source_text().startswith("default model")
    pick(window, qtbot, "smollm2")
    qtbot.waitUntil(lambda: "Paris" in chat.transcript.toPlainText(), timeout=30_000)
    assert chat.turns == [turn] and chat.header.source_text().startswith("SmolLM2-135M-Instruct")
    assert chat.input.isEnabled() and "1 question" in chat.header.source_text()


def test_minilm_is_an_encoder(window, qtbot):
    pick(window, qtbot, "minilm")
    att = show(window, qtbot, "attention")
    qtbot.waitUntil(lambda: att.current.shape[:2] == (6, 12), timeout=60_000)
    assert att.current.tokens[0] == "[CLS]" and att.current.tokens[-1] == "[SEP]"
    tile = att.grid.tile_image(0, 0)
    assert tile[0, -1] != 255  # bidirectional: the first token looks at the last one too (nothing masked)
    assert "bidirectional" in att.header.source_text()
    nt = window.views["next-token"]
    window.tabs.setCurrentIndex(window.view_index("next-token"))
    qtbot.waitUntil(lambda: "encoder" in nt.header.error_text, timeout=60_000)
    chat = window.views["chat"]
    window.tabs.setCurrentIndex(window.view_index("chat"))
    qtbot.waitUntil(lambda: chat.painted > 0, timeout=10_000)
    assert "no chat template" in chat.notice.text() and not chat.input.isEnabled()
    # ablation on an encoder: what moves is its sentence embedding and each token's output vector
    abl = show(window, qtbot, "ablation")
    qtbot.waitUntil(lambda: abl.settled and abl.result is not None and abl.grid.shape == (6, 12), timeout=60_000)
    assert abl.result.measure == "embedding" and abl.result.change < 1e-12 and not abl.header.error_text
    assert abl.before_bars.isHidden() and "encoder" in abl.summary.text()
    abl.effect_btn.click()
    qtbot.waitUntil(lambda: abl.settled and abl.effect is not None, timeout=60_000)
    assert abl.effect.effect.shape == (6, 12) and (abl.effect.effect >= 0).all() and abl.effect.effect.max() > 1e-3
    layer, head = map(int, np.unravel_index(np.argmax(abl.effect.effect), (6, 12)))
    painted = abl.painted
    abl.clicked(layer, head)
    qtbot.waitUntil(lambda: abl.painted > painted and abl.settled, timeout=30_000)
    r = abl.result
    assert r.sites == [f"{layer}.{head}"] and abs(r.change - abl.effect.effect[layer, head]) < 1e-7
    assert len(abl.strip.tokens) == len(r.tokens) and abl.strip.after.max() > 0
    assert abl.after_bars.tokens[0] == r.most_moved(1)[0][0] and f"{r.cosine:.5f}" in abl.summary.text()


def test_the_window_opens_on_a_named_model(qtbot, tmp_path):
    """``transformer-explorer --model minilm`` opens on the encoder, the default model one click away."""
    from PySide6.QtCore import QSettings

    from app.main import parse_args
    from app.window import MainWindow

    args = parse_args(["--model", "minilm"])
    assert args.checkpoint == "minilm" and parse_args(["--checkpoint", "x"]).checkpoint == "x"
    win = MainWindow(args.checkpoint, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.ctx.model is not None and win.ctx.default is not None, timeout=60_000)
        assert win.ctx.model.key == "named:minilm" and win.ctx.default.source == "default"
        qtbot.waitUntil(lambda: win.attention.painted > 0 and win.attention.settled, timeout=60_000)
        assert win.attention.header.source_text().startswith("all-MiniLM-L6-v2")
        assert not win.attention.current.picture.causal  # an encoder: the full square
    finally:
        win.bridge.shutdown(timeout=30)


def test_models_that_cannot_be_opened_say_so_in_the_window(window, qtbot, tmp_path):
    """A truncated GGUF, an unsupported architecture, a folder without a tokenizer: one line in the window, the
    model in use stays, and the views go on working."""
    import json
    import shutil

    from engine.models.registry import NAMED

    cut = tmp_path / "cut.gguf"
    with open(NAMED["smollm2"].path(), "rb") as f:
        cut.write_bytes(f.read(5_000_000))
    t5 = tmp_path / "t5"
    t5.mkdir()
    (t5 / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 64}))
    bare = tmp_path / "bare"
    shutil.copytree(NAMED["minilm"].path(), bare, ignore=shutil.ignore_patterns("tokenizer.json", "*.safetensors"))
    for path, want in ((cut, "truncated"), (t5, "model_type t5 is not supported"), (bare, "has no tokenizer.json")):
        window.ctx.open_model(str(path))
        qtbot.waitUntil(lambda w=want: w in window.status_error.text(), timeout=30_000)
        assert "\n" not in window.status_error.text() and "Traceback" not in window.status_error.text()
        assert window.ctx.model.source == "default" and "default" in window.picker.currentText().lower()
    before = window.painted["attention"]
    window.attention.set_text("still alive")
    qtbot.waitUntil(lambda: window.painted["attention"] > before, timeout=10_000)
    assert window.attention.current.tokens[1:3] == ["s", "t"]
