"""Screenshots of the Embeddings view from the real window (offscreen): skip-gram vectors trained in the
view on Shakespeare at screenshot time (nothing large is committed), shown as a t-SNE map with a word's
neighbours, as the last aligned PCA frame of the training animation with an analogy's parallelogram, as a
3-D t-SNE coloured by k-means cluster and turned a little, and the positional-encoding matrices.
Usage: ``python -m packaging.embedding_shots docs``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def embedding_shots(out: Path, epochs: int = 3) -> None:
    from packaging.screenshots import until as until_in
    from packaging.screenshots import wait, window_on

    with window_on("embeddings") as (app, win, _tmp):
        view = win.views["embeddings"]

        def until(condition) -> None:  # type: ignore[no-untyped-def]
            until_in(app, condition, timeout=1800)  # skip-gram and t-SNE take minutes on a busy machine

        def settle() -> None:
            wait(app, 0.6)

        painted = win.painted["embeddings"]
        view.pages.setCurrentIndex(1)
        until(lambda: win.painted["embeddings"] > painted)
        settle()
        win.grab().save(str(out / "embeddings-positional.png"))
        view.pages.setCurrentIndex(0)

        sg = view.skipgram  # skip-gram on Shakespeare, trained here
        sg.corpus.setText("shakespeare")
        sg.dim.setValue(50)
        sg.epochs.setValue(epochs)
        view.projection.words.setValue(500)
        sg.train.click()
        until(lambda: "skip-gram" in view.spaces and not win.bridge.busy)
        for field, word in zip((view.analogy.a, view.analogy.b, view.analogy.c), ("he", "him", "her"), strict=True):
            field.setText(word)
        painted = win.painted["embeddings"]
        view.analogy.solve.click()
        until(lambda: win.painted["embeddings"] > painted)
        settle()
        win.grab().save(str(out / "embeddings-training.png"))

        view.projection.method.setCurrentIndex(1)  # t-SNE of the final vectors
        view.projection.run.click()
        until(lambda: view.current_frame() is not None and view.current_frame().method == "tsne")
        view.search.setText("king")
        view.find_word()
        settle()
        win.grab().save(str(out / "embeddings.png"))

        view.projection.dims.setCurrentIndex(1)  # the same vectors by t-SNE in 3-D, coloured by cluster
        view.projection.run.click()
        until(lambda: view.current_frame().method == "tsne" and view.current_frame().dims == 3)
        view.colours.mode.setCurrentIndex(1)
        until(lambda: view.plot.colouring.mode == "cluster")
        view.select(view.find_row("king"))  # its neighbours; the camera turned a little, zoomed in on the word
        view.plot.turn(40, 10)
        view.plot.plot_item.vb.scaleBy((0.6, 0.6), center=tuple(view.plot.coords[view.selected]))
        settle()
        win.grab().save(str(out / "embeddings-3d.png"))
        win.close()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    target.mkdir(parents=True, exist_ok=True)
    embedding_shots(target)
    print(f"embedding screenshots in {target}")
