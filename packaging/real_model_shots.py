"""Screenshots of the real models shipped with the app, from the real window (offscreen): SmolLM2-135M-Instruct's
270 heads on a paragraph, the Chat view with an answer and where one of its tokens looked, SmolLM2's byte-level
BPE in the Tokens view, and all-MiniLM-L6-v2's unmasked attention. Usage:
``python -m packaging.real_model_shots docs``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PARAGRAPH = ("The quick brown fox jumps over the lazy dog. The dog did not move; it had seen foxes before, "
             "and it knew that the fox would jump again tomorrow, and the day after that.")

TOKENS_TEXT = "Tokenization splits unbelievably long words — and café, naïve, 東京 — into byte pieces."


def previous_token_head(attention: np.ndarray) -> tuple[int, int]:
    """The head (layer, head) that puts the most weight on the token just before each query: a clear pattern."""
    previous = np.diagonal(attention, offset=-1, axis1=2, axis2=3).mean(-1)  # (L, H)
    layer, head = np.unravel_index(int(np.argmax(previous)), previous.shape)
    return int(layer), int(head)


def real_model_shots(out: Path) -> None:
    from PySide6.QtCore import QUrl

    from packaging.screenshots import show_view, wait, window_on
    from packaging.screenshots import until as until_in

    with window_on("attention") as (app, win, _tmp):
        def until(condition) -> None:  # type: ignore[no-untyped-def]
            until_in(app, condition, timeout=600)

        def pick(name: str) -> None:
            picker = win.picker
            until(lambda: any(picker.itemData(i) == ("named", name) for i in range(picker.count())))
            index = next(i for i in range(picker.count()) if picker.itemData(i) == ("named", name))
            picker.setCurrentIndex(index)
            picker.activated.emit(index)
            until(lambda: win.ctx.model is not None and win.ctx.model.key == f"named:{name}")

        def show(key: str):  # type: ignore[no-untyped-def]
            return show_view(app, win, key, timeout=600)

        pick("smollm2")
        att = show("attention")
        att.set_text(PARAGRAPH)
        until(lambda: att.current is not None and att.current.shape[:2] == (30, 9) and att.settled
              and att.current.tokens[-1] == ".")
        att.select(*previous_token_head(att.current.attention))
        wait(app, 1.0)
        win.grab().save(str(out / "smollm2-attention.png"))

        tok = show("tokens")
        tok.input.setPlainText(TOKENS_TEXT)
        until(lambda: tok.settled and f"for {len(TOKENS_TEXT)} characters" in tok.summary.text())
        wait(app, 1.0)
        win.grab().save(str(out / "smollm2-tokens.png"))

        chat = show("chat")
        chat.input.setText("Why is the sky blue? Answer in two sentences.")
        chat.send_btn.click()
        until(lambda: chat.job is None and chat.turns and chat.turns[0].done)
        turn = chat.turns[0]
        k = next((i for i, (text, _, _) in enumerate(turn.tokens) if "blue" in text), len(turn.tokens) // 2)
        chat._token_clicked(QUrl(f"tok:0:{k}"))
        until(lambda: chat.focus.rows is not None)
        wait(app, 1.0)
        win.grab().save(str(out / "chat.png"))

        pick("minilm")
        att = show("attention")
        att.set_text("The bank raised interest rates, so we sat on the river bank.")
        until(lambda: att.current is not None and att.current.shape[:2] == (6, 12) and att.settled)
        wait(app, 1.0)
        win.grab().save(str(out / "minilm-attention.png"))
        win.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    real_model_shots(out)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
