"""The Embeddings view's analogy workbench: a - b + c (seed 002, Eq. 11.2: paris - france + italy = rome)
by 3CosAdd or 3CosMul over the whole source, inputs excluded, answered in the engine thread, and the
parallelogram b -> a, c -> answer drawn on the current layout, 2-D or 3-D (a word outside the projected
ones is placed by the layout's linear map when the layout is PCA)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidgetItem

from app.views.embeddings.common import ANALOGY_ANSWERS
from app.views.embeddings.plot import Parallelogram
from engine.embeddings.analysis import analogy
from engine.embeddings.explore import Frame, place_points
from engine.embeddings.vectors import Vectors
from engine.errors import UserError


class AnalogyMixin:
    """Part of EmbeddingsView (its state and widgets are the view's)."""

    def clear_analogy(self) -> None:
        self.analogy_result = None
        self.analogy_answer = None
        self.analogy.answers.clear()
        self.analogy.message.setText("")
        self.plot.set_parallelogram(None)


    def analogy_vectors(self) -> Vectors | None:
        """The whole source when it is known; during skip-gram training, the words of the current frame."""
        frame = self.current_frame()
        if self.space is not None and (frame is None or frame.step is None or frame is self.final_frame):
            return self.space.vectors
        if frame is not None and self.shown is not None:
            return Vectors(list(self.shown.words), frame.vectors, "this training frame")
        return None

    def solve_analogy(self) -> None:
        a, b, c = self.analogy.inputs()
        if not (a and b and c):
            self.analogy.error("give three words: a \u2212 b + c")
            self.error("analogy: give three words a, b and c")
            return
        vectors = self.analogy_vectors()
        if vectors is None:
            self.error("no vectors yet")
            return
        method = str(self.analogy.method.currentData())

        def job() -> dict[str, Any]:
            try:
                return {"result": analogy(vectors, a, b, c, k=ANALOGY_ANSWERS, method=method)}
            except UserError as e:  # an unknown word: said next to the inputs, not only in the status bar
                return {"error": str(e)}

        self.run(job, self._show_analogy, key="analogy", what=f"solving {a} \u2212 {b} + {c}")

    def _show_analogy(self, value: dict[str, Any]) -> None:
        if "error" in value:
            self.analogy.error(value["error"])
            self.analogy_answer = None
            self.plot.set_parallelogram(None)
            self.error(f"analogy: {value['error']}")
            self._painted()
            return
        res = value["result"]
        self.analogy_result = res
        self.analogy.answers.clear()
        score = "3CosAdd" if res.method == "add" else "3CosMul"
        for word, s in res.answers:
            item = QListWidgetItem(f"{word}  {s:+.3f}")
            item.setData(Qt.ItemDataRole.UserRole, word)
            self.analogy.answers.addItem(item)
        self.analogy.message.setText(f"{res.a} \u2212 {res.b} + {res.c} \u2248 <b>{res.answers[0][0]}</b> "
                                     f"({score} {res.answers[0][1]:+.3f})" if res.answers else "no answer")
        if res.answers:
            self.analogy.answers.setCurrentRow(0)
            self.draw_parallelogram(res.answers[0][0])
        self.side.setCurrentIndex(1)
        self._painted()

    def position_of(self, word: str, frame: Frame) -> tuple[float, ...] | None:
        """Layout position of a word (2 or 3 coordinates): its point if shown; placed by the linear map for
        a PCA still."""
        assert self.shown is not None
        row = self.shown.vectors.index.get(word)
        if row is not None and row < len(frame.coords):
            return tuple(float(v) for v in frame.coords[row])
        linear = frame.method == "pca" and (frame.step is None or frame is self.final_frame)
        if linear and self.space is not None and word in self.space.vectors:
            v = self.space.vectors.matrix[self.space.vectors.id(word)]
            return tuple(float(x) for x in place_points(frame.vectors, frame.coords, v)[0])
        return None

    def draw_parallelogram(self, answer: str, quiet: bool = False) -> None:
        res, frame = self.analogy_result, self.current_frame()
        if res is None or frame is None or self.shown is None:
            return
        self.analogy_answer = answer
        words = {"a": res.a, "b": res.b, "c": res.c, "d": answer}
        points = {role: self.position_of(w, frame) for role, w in words.items()}
        missing = [w for role, w in words.items() if points[role] is None]
        if missing:
            self.plot.set_parallelogram(None)
            if not quiet:
                self.analogy.message.setText(
                    f"{', '.join(missing)}: not among the {len(self.shown):,} words projected, so not drawn "
                    "(raise 'words', or use PCA, which places any word)")
            return
        pts = {r: p for r, p in points.items() if p is not None}
        target = None
        if frame.method == "pca":  # a linear map: a - b + c lands at pa - pb + pc (in 2-D and in 3-D)
            target = tuple(float(v) for v in np.subtract(pts["a"], pts["b"]) + np.asarray(pts["c"]))
        self.plot.set_parallelogram(Parallelogram(words, pts, target))
        if not quiet:  # one overlay at a time, and the view fitted to the parallelogram
            if self.selected is not None:
                self.clear_selection()
            self.plot.focus(self.plot.to_screen(np.array([*pts.values(), *([target] if target else [])])),
                            margin=0.35)
        outside = [w for w in words.values() if w not in self.shown.vectors.index]
        if outside and not quiet:
            self.analogy.message.setText(self.analogy.message.text() + f"<br>placed by the PCA map (not among the "
                                         f"words shown): {', '.join(outside)}")
        if not quiet:
            self._painted()
