"""SmolLM2-135M-Instruct in the desktop app: how long it takes to open and to show all 270 heads, how fluent the
Attention grid stays, and the app's peak memory with it open (issue 12).

The real window offscreen (app.main.build), one torch thread as the app sets it on this machine: open SmolLM2
from the picker's name, the Attention view on 512 and on 1,024 tokens (the analysis in the engine thread, then
the grid's redraw in the GUI thread), another layer's head enlarged, one chat answer, and the process's peak
resident memory (``ru_maxrss``) before and after.

Usage: ``QT_QPA_PLATFORM=offscreen python -m bench.app_real_models``
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    from app.main import build
    from bench.machine import describe

    app, win = build(["--size", "1400x860"])
    win.resize(1400, 860)

    def wait(cond, timeout: float = 600) -> float:  # noqa: ANN001
        t0 = time.perf_counter()
        while not cond():
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("the app did not get there in time")
            app.processEvents()
            time.sleep(0.005)
        return time.perf_counter() - t0

    def peak_mb() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

    att = win.attention
    wait(lambda: att.painted > 0 and att.settled)
    out: dict[str, object] = {"machine": describe(), "peak_mb_default_model": peak_mb()}
    t0 = time.perf_counter()
    win.ctx.open_model("smollm2")
    wait(lambda: win.ctx.model is not None and win.ctx.model.source == "named" and att.settled)
    out["open_smollm2_and_first_picture_s"] = round(time.perf_counter() - t0, 2)
    base = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings. "
    for n in (512, 1024):
        text = base * 40
        ids = win.ctx.model.handle.tokenizer.encode(text).ids
        text = win.ctx.model.handle.tokenizer.decode(ids[:n])
        t0 = time.perf_counter()
        att.set_text(text)
        wait(lambda n=n: att.settled and att.current is not None and att.current.shape[2] >= n - 2)
        analysis = time.perf_counter() - t0
        redraws = []
        for _ in range(5):
            t1 = time.perf_counter()
            att.redraw()
            att.grid.viewport().repaint()
            app.processEvents()
            redraws.append(time.perf_counter() - t1)
        t1 = time.perf_counter()
        att.select(17, 4)
        wait(lambda: att.settled and att.detail.title.startswith("layer 17, head 4"))
        other = time.perf_counter() - t1
        out[f"tokens_{n}"] = {"heads": 270, "tokens": att.current.shape[2], "analysis_s": round(analysis, 2),
                              "grid_redraw_ms_median": round(statistics.median(redraws) * 1000, 1),
                              "another_layer_s": round(other, 2), "peak_mb": peak_mb()}
    chat = win.views["chat"]
    win.tabs.setCurrentIndex(win.view_index("chat"))
    chat.input.setText("What is the capital of France?")
    t0 = time.perf_counter()
    chat.send()
    wait(lambda: chat.job is None and chat.turns and chat.turns[0].done)
    seconds = time.perf_counter() - t0
    out["chat"] = {"answer": chat.turns[0].answer, "tokens": len(chat.turns[0].tokens), "seconds": round(seconds, 2)}
    out["peak_mb"] = peak_mb()
    win.close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
