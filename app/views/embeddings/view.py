"""The Embeddings view: explore a vocabulary's vectors (seed 002, section 11.1) as a 2-D or 3-D map.

Sources: the loaded transformer's token embeddings W_E or its unembedding W_U (seed 003), skip-gram
vectors trained right here (Eq. 11.3-11.5), or a vectors file (word2vec text format) / checkpoint folder.
The N most frequent words are projected by PCA or t-SNE to 2 or 3 dimensions (in the engine thread; t-SNE
as a cancellable task) and drawn coloured by frequency, k-means cluster or neighbour disagreement; a 3-D
layout through a camera the mouse turns. Click or search a word to compare its nearest words by cosine
(Eq. 11.1) with its nearest points in the layout; the analogy
workbench answers a - b + c (Eq. 11.2) and draws the parallelogram. While skip-gram trains, each snapshot
is projected (PCA, aligned to the previous frame by Procrustes) and the slider scrubs through the frames;
while a transformer trains in the Training view, the view follows its token embeddings at each probe
snapshot. A second tab shows the positional encodings' cosine matrices.

Modules: this one (sources, projections, colours, selection, results, export), plot (the scatter), orbit
(its 3-D camera), panels (the controls), runs (the training animations), analogy (the workbench),
positional (the positional tab), common (what they share).

Threads: spaces, layouts, clusters, analogies and positional matrices are computed by the view's jobs in
the engine thread (``View.run``); skip-gram and t-SNE run as tasks (``bridge.start_task``). A click's
neighbour lists are one matrix-vector product over the (at most 10,000) shown words, done in the GUI
thread so a click answers at once even while a t-SNE slice runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QStringListModel, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.views.base import View
from app.views.embeddings.analogy import AnalogyMixin
from app.views.embeddings.common import DISAGREEMENT_K, MODEL_MATRIX, SOURCES, TSNE, WORD2VEC
from app.views.embeddings.panels import (
    AnalogyPanel,
    AnimationBar,
    ColourPanel,
    NeighboursPanel,
    ProjectionPanel,
    SkipGramPanel,
)
from app.views.embeddings.plot import Colouring, EmbeddingScatter
from app.views.embeddings.positional import PositionalPanel
from app.views.embeddings.runs import TrainingRunsMixin
from app.widgets.names import named
from app.widgets.text import shown_token
from engine.embeddings.analysis import projection_neighbours_disagreement
from engine.embeddings.explore import (
    Frame,
    Space,
    compare_neighbours,
    kmeans_labels,
    layout,
    layout_events,
    positional_similarities,
    reproject_frames,
    space_from_file,
    space_from_model,
)
from engine.embeddings.io import write_word2vec
from engine.embeddings.projection import ProjectionConfig, write_csv
from engine.errors import UserError

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef


class EmbeddingsView(TrainingRunsMixin, AnalogyMixin, View):
    key = "embeddings"
    title = "Embeddings"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.spaces: dict[str, Space] = {}  # per source, the whole vocabulary
        self.space: Space | None = None  # the source shown (None while skip-gram is still training)
        self.shown: Space | None = None  # its most frequent words, the rows of every frame
        self.frames: list[Frame] = []
        self.frame_index = -1
        self.final_frame: Frame | None = None  # the frame whose vectors are those of ``space``
        self.last_run: tuple[Space, list[Frame]] | None = None  # the last finished skip-gram run's frames
        self.run_shown: Space | None = None  # the words of the skip-gram run (running or last)
        self.run_frames: list[Frame] = []
        self.selected: int | None = None
        self.analogy_result = None
        self.analogy_answer: str | None = None
        self.colour_cache: dict[tuple[Frame, str, int], np.ndarray] = {}  # (frame, mode, k) -> values
        self._colour_requests: set[tuple[Frame, str, int]] = set()
        self._generation = 0
        self._pending: dict[int, Space] = {}
        self._task = ""  # WORD2VEC or TSNE while one of ours runs
        self._train_epochs = 1
        self._follow_busy = False  # a follow job is queued (one at a time: the engine serves training first)
        self._follow_sent = 0.0
        self._follow_reset = False
        self._positional_dirty = True
        self._started = False
        self._tsne_task = None
        self._w2v_task = None
        self.space_model = ""  # the model (and step) the model source's vectors are of
        self.searched: list[int] = []  # rows of the source the user searched for beyond the most frequent
        self._select_after_projection: str | None = None
        self._build()
        self._connect()
        self.show_source("loading the model\u2026")

    # --- widgets -------------------------------------------------------------------------------

    def _build(self) -> None:
        self.source = named(QComboBox(), "embeddings.source", "Which vectors")
        for key, text in SOURCES:
            self.source.addItem(text, key)
        self.open_file_btn = named(QPushButton("Open vectors file\u2026"), "embeddings.open-file",
                                   "Open a vectors file")
        self.open_ckpt_btn = named(QPushButton("Open checkpoint\u2026"), "embeddings.open-checkpoint",
                                   "Open a checkpoint's token embeddings")
        self.source_info = named(QLabel(), "embeddings.source-info", "About the vectors")
        self.source_info.setStyleSheet("color: #444")
        top = QHBoxLayout()
        top.addWidget(QLabel("Vectors"))
        top.addWidget(self.source)
        top.addWidget(self.open_file_btn)
        top.addWidget(self.open_ckpt_btn)
        top.addWidget(self.source_info, 1)

        self.projection = ProjectionPanel()
        self.colours = ColourPanel()
        self.export_btn = named(QToolButton(), "embeddings.export", "Export")
        self.export_btn.setText("Export")
        self.export_btn.setMinimumWidth(72)
        self.export_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_btn)
        for fmt, text in (("png", "Picture (PNG)…"), ("svg", "Picture (SVG)…"),
                          ("csv", "Coordinates (CSV): word, x, y (, z), count, colours…"),
                          ("txt", "All vectors of the source (word2vec text)…")):
            menu.addAction(text, lambda f=fmt: self.export_dialog(f))
        self.export_btn.setMenu(menu)
        self.skipgram = SkipGramPanel()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 4, 0)
        ll.addWidget(self.projection)
        ll.addWidget(self.colours)
        ll.addWidget(self.skipgram)
        ll.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # wide enough for the panels' minimum: nothing is ever clipped on the right
        scroll.setMinimumWidth(left.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 2)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        self.search = named(QLineEdit(), "embeddings.search", "Search a word")
        self.search.setPlaceholderText("search a word (Enter selects and centres it)")
        self.completer = QCompleter()
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setModel(QStringListModel())
        self.search.setCompleter(self.completer)
        self.find_btn = named(QPushButton("Find"), "embeddings.find", "Find the word")
        self.reset_view_btn = named(QPushButton("Reset view"), "embeddings.reset-view", "Reset the 3-D view")
        self.reset_view_btn.setToolTip("back to the default angle, all points in view\n"
                                       "(drag with the left mouse button to rotate, the wheel zooms)")
        self.reset_view_btn.setVisible(False)  # 3-D only
        self.status = named(QLabel(), "embeddings.status", "About the picture")
        self.status.setWordWrap(True)
        srow = QHBoxLayout()
        srow.addWidget(self.search, 1)
        srow.addWidget(self.find_btn)
        srow.addWidget(self.reset_view_btn)
        srow.addWidget(self.export_btn)
        self.plot = named(EmbeddingScatter(), "embeddings.plot", "The map of the vectors")
        self.animation = AnimationBar()
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(srow)
        cl.addWidget(self.plot, 1)
        cl.addWidget(self.animation)
        cl.addWidget(self.status)

        self.neighbours = NeighboursPanel()
        self.analogy = AnalogyPanel()
        self.side = named(QTabWidget(), "embeddings.side", "Neighbours or analogy")
        self.side.addTab(self.neighbours, "Neighbours")
        self.side.addTab(self.analogy, "Analogy")
        self.side.setMinimumWidth(280)

        words_page = QSplitter()
        words_page.addWidget(scroll)
        words_page.addWidget(centre)
        words_page.addWidget(self.side)
        words_page.setStretchFactor(1, 1)
        words_page.setSizes([290, 620, 290])
        self.positional = PositionalPanel()
        self.pages = named(QTabWidget(), "embeddings.pages", "Words or positional encodings")
        self.pages.addTab(words_page, "Words")
        self.pages.addTab(self.positional, "Positional encodings")
        self.layout_.addLayout(top)
        self.layout_.addWidget(self.pages, 1)

        self.play_timer = QTimer(self)
        self.play_timer.setInterval(80)
        self.play_timer.timeout.connect(self._play_step)

    def _connect(self) -> None:
        self.ctx.runChanged.connect(self._on_run_changed)
        self.ctx.runSnapshot.connect(self._on_training_snapshot)
        self.source.currentIndexChanged.connect(self._source_changed)
        self.open_file_btn.clicked.connect(lambda: self._open_dialog(folder=False))
        self.open_ckpt_btn.clicked.connect(lambda: self._open_dialog(folder=True))
        self.projection.run.clicked.connect(self.run_projection)
        self.projection.cancel.clicked.connect(self.cancel_projection)
        self.projection.dims.currentIndexChanged.connect(lambda _: self.change_dimensions())
        self.reset_view_btn.clicked.connect(self.plot.reset_view)
        self.colours.mode.currentIndexChanged.connect(lambda _: self.recolour())
        self.colours.k.valueChanged.connect(lambda _: self.recolour())
        self.colours.labels.valueChanged.connect(self._labels_changed)
        self.search.returnPressed.connect(self.find_word)
        self.find_btn.clicked.connect(self.find_word)
        self.plot.pointClicked.connect(self.select)
        self.plot.tip_text = self._tip
        self.neighbours.k.valueChanged.connect(lambda _: self.select(self.selected))
        for table in (self.neighbours.original, self.neighbours.projected):
            table.itemClicked.connect(lambda item, _col: self.find_word(item.data(0, Qt.ItemDataRole.UserRole)))
        self.analogy.solve.clicked.connect(self.solve_analogy)
        self.analogy.answers.itemClicked.connect(
            lambda item: self.draw_parallelogram(item.data(Qt.ItemDataRole.UserRole)))
        self.skipgram.train.clicked.connect(self.train_skipgram)
        self.skipgram.pause.clicked.connect(self._toggle_pause)
        self.skipgram.stop.clicked.connect(self.stop_skipgram)
        self.skipgram.browse.clicked.connect(self._browse_corpus)
        self.animation.slider.valueChanged.connect(self._scrub)
        self.animation.play.clicked.connect(self._play)
        self.animation.frames_btn.clicked.connect(self.show_last_run)
        self.pages.currentChanged.connect(lambda _: self._page_changed())

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if not self._started and self.ctx.model is not None:
            self._started = True  # something visible at once: the model's token embeddings, by PCA
            self.request_model_space(self.current_source())

    def refresh(self) -> None:
        """The model changed: its matrices (and the positional tab) are computed again."""
        for key in MODEL_MATRIX:
            self.spaces.pop(key, None)
        self._positional_dirty = True
        if self.pages.currentIndex() == 1:
            self.request_positional()
        if self.current_source() in MODEL_MATRIX:
            self._started = True
            self.request_model_space(self.current_source())

    def model_changed(self, ref: ModelRef) -> None:
        if self._started or self.isVisible():
            super().model_changed(ref)

    # --- messages ----------------------------------------------------------------------------------

    def error(self, text: str) -> None:
        self.show_error(text)

    def info(self, text: str) -> None:
        self.status.setText(text)

    def _painted(self) -> None:
        self.mark_painted()
        self._show_header()

    def _show_header(self) -> None:
        """The header names the vectors shown: the model (and step), the skip-gram run, or the file."""
        shown = self.shown
        if shown is None:
            return
        frame = self.current_frame()
        method = {"pca": "PCA", "tsne": "t-SNE"}.get(frame.method, "") if frame is not None else ""
        dims = f", {frame.dims}-D" if frame is not None else ""
        step = f", frame at step {frame.step:,}" if frame is not None and frame.step is not None else ""
        what = f"{len(frame.coords) if frame is not None else len(shown):,} most frequent words, {method}{dims}{step}"
        src = self.space.vectors.source if self.space is not None else shown.vectors.source
        if shown.kind == "model" and self.space_model:
            self.show_source(self.space_model, f"{src}; {what}")
        else:
            self.show_source(src, what)

    # --- sources ---------------------------------------------------------------------------------

    def current_source(self) -> str:
        return str(self.source.currentData())

    def set_source(self, key: str) -> None:
        """Select a source in the combo without loading it (the caller has what to show)."""
        self.source.blockSignals(True)
        self.source.setCurrentIndex([k for k, _ in SOURCES].index(key))
        self.source.blockSignals(False)

    def _source_changed(self) -> None:
        key = self.current_source()
        if key in MODEL_MATRIX:
            if key in self.spaces:
                self.install_space(self.spaces[key])
            else:
                self.request_model_space(key)
        elif key == "skip-gram":
            if self._task == WORD2VEC and self.run_frames:  # back to a run in progress
                self.space = None
                self._show_run_frames()
            elif key in self.spaces:
                self.install_space(self.spaces[key])
            else:
                self.info("Train skip-gram vectors in the Skip-gram panel (left); the picture follows the run.")
        elif key == "file":
            if key in self.spaces:
                self.install_space(self.spaces[key])
            else:
                self._open_dialog(folder=False)

    def request_model_space(self, key: str) -> None:
        ref, ws = self.ctx.model, self.ctx.workspace
        if ref is None:
            return
        matrix = MODEL_MATRIX[key]
        handle = ref.handle

        def job() -> tuple[str, Space]:
            space = space_from_model(handle.model, handle.tokenizer, matrix, ws.model_counts(handle),
                                     "token embeddings W_E" if matrix == "embedding" else "unembedding W_U")
            return ref.label(handle.step), space

        self.run(job, lambda v, k=key: self._space_ready(k, *v), key="space", what=f"reading the model's {matrix}")

    def open_vectors(self, path: str, matrix: str = "embedding") -> None:
        """A word2vec/GloVe text file or a checkpoint folder (its token embeddings) as the source."""

        def job() -> tuple[str, Space]:
            return "", space_from_file(path, matrix)

        self.run(job, lambda v: self._space_ready("file", *v), key="space", what=f"reading {Path(path).name}")

    def _space_ready(self, key: str, model: str, space: Space) -> None:
        self.spaces[key] = space
        if key == "file":
            self.set_source("file")
        if key == self.current_source():
            self.space_model = model
            self.install_space(space)

    def _open_dialog(self, folder: bool) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(self, "Open checkpoint folder (its token embeddings)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Open vectors (word2vec text format)", "",
                                                  "Vectors (*.txt *.vec);;All files (*)")
        if path:
            self.open_vectors(path)

    def install_space(self, space: Space) -> None:
        if space is not self.space:
            self.searched = []  # rows of another source
        self.space = space
        counts = "corpus counts" if space.counts is not None else "no counts (file order stands for frequency)"
        self.source_info.setText(f"{space.vectors.source}: {len(space):,} words, d = {space.vectors.dim}; {counts}")
        self.completer.model().setStringList(sorted(set(space.words)))
        self.clear_analogy()  # its answers belong to the vectors shown before
        self.info(space.note)
        for example in (("king", "man", "woman"), ("A", "a", "b"), (" the", " a", " an")):
            if all(w in space.vectors for w in example):  # (A - a + b = B: the case offset of a char model)
                self.analogy.set_example(*example)
                break
        self.run_projection()

    # --- projection ------------------------------------------------------------------------------

    def projection_config(self, n: int) -> ProjectionConfig:
        p = self.projection
        iterations = p.iterations.value()
        return ProjectionConfig(method=str(p.method.currentData()), dims=p.dimensions(), seed=p.seed.value(),
                                perplexity=p.perplexity.value(), iterations=iterations,
                                early_iterations=min(250, iterations // 3))

    def run_projection(self) -> None:
        space = self.space
        if space is None:
            self.error("nothing to project yet: wait for the vectors (skip-gram is still training?)")
            return
        shown = space.top(self.projection.words.value(), self.searched)
        cfg = self.projection_config(len(shown))
        try:
            cfg.validate(len(shown))  # the same checks the engine makes, answered at once
        except UserError as e:
            self.error(f"{'t-SNE' if cfg.method == 'tsne' else 'PCA'} of {len(shown)} words: {e}")
            return
        vectors = shown.vectors.matrix
        self._generation += 1
        gen = self._generation
        self._pending = {gen: shown}
        engine = self.ctx.engine
        if cfg.method == "pca":
            self.run(lambda: layout(vectors, cfg), lambda frame, g=gen: self._layout_ready(g, frame), key="layout",
                     what=f"PCA of {len(shown):,} words")
            return
        if engine.busy:
            assert engine.task is not None
            self.error(f"{engine.task.name} is running; t-SNE can start when it has finished (PCA works now)")
            return
        task = engine.start_task(TSNE, lambda token: layout_events(vectors, cfg, token), on_events=self._on_events,
                                 on_finished=lambda fin, err: self._on_task_finished(TSNE, fin, err))
        if task is not None:
            self._tsne_task = task
            self.header.busy_started(task, f"t-SNE of {len(shown):,} words", self.cancel_projection)
            self._task = TSNE
            self._tsne_generation = gen
            self.projection.set_running(True)
            self.projection.progress.setRange(0, cfg.iterations)
            self.projection.progress.setFormat("t-SNE: computing affinities\u2026")
            self.info(f"t-SNE of {len(shown)} words running; the picture changes when it is done")

    def change_dimensions(self) -> None:
        """The 2-D / 3-D choice: PCA frames (a still or a training run's) are projected again at once, in
        the engine thread; a t-SNE picture stays until Run (t-SNE is not a map that can be re-applied)."""
        dims = self.projection.dimensions()
        frames = list(self.frames)
        if not frames or all(f.dims == dims for f in frames):
            return
        if any(f.method != "pca" for f in frames):
            self.info(f"t-SNE: press Run for a {dims}-D layout (the {frames[0].dims}-D one stays until then)")
            return
        self.run(lambda: (frames, reproject_frames(frames, dims)), lambda v, d=dims: self._reprojected(d, *v),
                 key="reproject", what=f"projecting to {dims}-D")

    def _reprojected(self, dims: int, old: list[Frame], new: list[Frame]) -> None:
        """Swap the re-projected frames in wherever the old ones are kept (the run's frames, the last run,
        the final frame), unless the choice changed again meanwhile."""
        if dims != self.projection.dimensions():
            return
        swap = {id(o): n for o, n in zip(old, new, strict=True)}
        if self.last_run is not None:
            self.last_run = (self.last_run[0], [swap.get(id(f), f) for f in self.last_run[1]])
        if self.final_frame is not None:
            self.final_frame = swap.get(id(self.final_frame), self.final_frame)
        if not any(id(f) in swap for f in self.frames):
            return  # another picture meanwhile
        self.frames[:] = [swap.get(id(f), f) for f in self.frames]  # in place: it may be the run's list
        self.colour_cache.clear()
        self.show_frame(self.frame_index, keep_range=False)
        self.info(f"{dims}-D: drag with the left mouse button to rotate, the wheel zooms"
                  if dims == 3 else "2-D")

    def cancel_projection(self) -> None:
        if self._task == TSNE and self._tsne_task is not None:
            self._tsne_task.stop()

    def _layout_ready(self, generation: int, frame: Frame) -> None:
        if generation == self._generation and generation in self._pending:
            self.install_frames(self._pending[generation], [frame])

    def install_frames(self, shown: Space, frames: list[Frame], keep_range: bool = False) -> None:
        wanted, self._select_after_projection = self._select_after_projection, None
        self._install_frames(shown, frames, keep_range)
        if wanted is not None and wanted in shown.vectors.index:
            self.find_word(wanted)

    def _install_frames(self, shown: Space, frames: list[Frame], keep_range: bool = False) -> None:
        previous = self.shown.words[self.selected] if self.shown is not None and self.selected is not None \
            and self.selected < len(self.shown) else None
        self.shown = shown
        self.frames = frames
        self.colour_cache.clear()
        self.selected = None
        self.show_frame(len(frames) - 1, keep_range)
        if previous is not None and previous in shown.vectors.index:
            self.select(shown.vectors.index[previous], repaint=False)
        else:
            self.clear_selection()

    def display_words(self) -> list[str]:
        if self.shown is None:
            return []
        if self.shown.kind == "model":
            return [shown_token(w) for w in self.shown.words]
        return list(self.shown.words)

    def display_word(self, row: int) -> str:
        """A shown word as drawn: a model's tokens with their spaces and newlines made visible."""
        word = self.shown.words[row]  # type: ignore[union-attr]
        return shown_token(word) if self.shown.kind == "model" else word  # type: ignore[union-attr]

    def current_frame(self) -> Frame | None:
        return self.frames[self.frame_index] if 0 <= self.frame_index < len(self.frames) else None

    def show_frame(self, index: int, keep_range: bool = False) -> None:
        self.frame_index = index
        frame = self.frames[index]
        self.plot.max_labels = self.colours.labels.value()
        self.plot.set_points(self.display_words(), frame.coords, self.colouring(frame), keep_range)
        is_pca = frame.method == "pca" and len(frame.explained) == frame.dims
        method = {"pca": "PCA", "tsne": "t-SNE"}[frame.method]
        detail = ""
        if frame.dims == 3:
            self.plot.set_axis_names([f"PC{i + 1} {frame.explained[i]:.0%}" if is_pca else f"t-SNE {i + 1}"
                                      for i in range(3)])
            if is_pca:  # the three axes' shares are in the gizmo's labels
                detail = f", {sum(frame.explained):.0%} of variance"
            method = f"{method} in 3-D{detail}"
        elif is_pca:
            aligned = ", aligned" if frame.step is not None else ""
            self.plot.setLabel("bottom", f"PC 1 ({frame.explained[0]:.0%} of variance){aligned}")
            self.plot.setLabel("left", f"PC 2 ({frame.explained[1]:.0%})")
        else:
            self.plot.setLabel("bottom", "t-SNE 1")
            self.plot.setLabel("left", "t-SNE 2")
        self.reset_view_btn.setVisible(frame.dims == 3)
        self.neighbours.set_dims(frame.dims)
        src = self.shown.vectors.source if self.shown else ""
        self.plot.set_title(f"{Path(src).name if '/' in src else src}: {len(frame.coords):,} most frequent "
                            f"words, {method}")
        if self.selected is not None:
            self.select(self.selected, repaint=False)
        if self.analogy_answer is not None:
            self.draw_parallelogram(self.analogy_answer, quiet=True)
        self._update_animation_bar()
        self._painted()

    # --- colours ---------------------------------------------------------------------------------

    def colouring(self, frame: Frame) -> Colouring:
        mode = str(self.colours.mode.currentData())
        if mode != "frequency":
            key = self._colour_key(frame, mode)
            if key in self.colour_cache:
                return self._colouring_of(mode, self.colour_cache[key])
            self._request_colours(frame, mode)
            stale = self.plot.colouring
            if stale is not None and stale.mode == mode and len(stale.values) == len(frame.coords):
                return stale  # the last frame's colours until this frame's arrive (no flicker)
        return self.frequency_colouring(len(frame.coords))

    def _colour_key(self, frame: Frame, mode: str) -> tuple[Frame, str, int]:
        """Only the clusters depend on k: changing k keeps the disagreement already computed."""
        return frame, mode, self.colours.k.value() if mode == "cluster" else 0

    def frequency_colouring(self, n: int) -> Colouring:
        counts = self.shown.counts if self.shown is not None else None
        if counts is not None:
            values = np.log10(np.asarray(counts[:n], np.float64) + 1)
            return Colouring("frequency", values, "log10 (corpus count + 1)", (0.0, float(max(values.max(), 1.0))))
        rank = np.log10(np.arange(1, n + 1, dtype=np.float64))
        return Colouring("frequency", rank, "log10 frequency rank (file order)", (0.0, float(max(rank.max(), 1.0))),
                         "viridis_r")

    def _colouring_of(self, mode: str, values: np.ndarray) -> Colouring:
        if mode == "cluster":
            return Colouring("cluster", values, "k-means cluster")
        return Colouring("disagreement", values, f"neighbour disagreement (k = {DISAGREEMENT_K})", (0.0, 1.0),
                         "CET-L8")

    def _request_colours(self, frame: Frame, mode: str) -> None:
        vectors, coords, k = frame.vectors, frame.coords, self.colours.k.value()
        seed = self.projection.seed.value()
        key = self._colour_key(frame, mode)
        if key in self._colour_requests:
            return

        def job() -> np.ndarray:
            if mode == "cluster":
                return kmeans_labels(vectors, min(k, len(vectors)), seed)
            return projection_neighbours_disagreement(vectors, coords, DISAGREEMENT_K)["disagreement"]

        self._colour_requests = {key}  # a newer request replaces an older pending one in the bridge
        self.run(job, lambda v, k=key: self._colours_ready(k, v), key="colour",
                 what="clustering" if mode == "cluster" else "measuring neighbour disagreement",
                 on_error=lambda text, k=key: self._colours_failed(k, text))

    def _colours_failed(self, key: tuple[Frame, str, int], text: str) -> None:
        self._colour_requests.discard(key)
        self.error(text)

    def recolour(self) -> None:
        frame = self.current_frame()
        if frame is not None:
            self.plot.set_colouring(self.colouring(frame))
            self._painted()

    def _labels_changed(self, n: int) -> None:
        self.plot.max_labels = n
        self.plot.place_labels()

    # --- hover, selection, search -------------------------------------------------------------------

    def _tip(self, row: int) -> str:
        s = self.shown
        if s is None or row >= len(s):
            return ""
        lines = [self.display_word(row)]
        if s.counts is not None:
            lines.append(f"count {int(s.counts[row]):,} (rank {row + 1})")
        else:
            lines.append(f"rank {row + 1} in the file")
        lines.append(f"token id {int(s.ids[row])}" if s.kind == "model" else f"row {int(s.ids[row])}")
        frame = self.current_frame()
        if frame is not None:
            key = self._colour_key(frame, "disagreement")
            if key in self.colour_cache:
                lines.append(f"neighbour disagreement {self.colour_cache[key][row]:.2f}")
        return "\n".join(lines) + "\nclick: compare its neighbours"

    def select(self, row: int | None, repaint: bool = True) -> None:
        """Compare a word's neighbours by cosine (original space) with its neighbours on the screen."""
        frame = self.current_frame()
        if row is None or frame is None or self.shown is None or row >= len(frame.coords):
            return
        self.selected = row
        k = min(self.neighbours.k.value(), len(frame.coords) - 1)
        cmp = compare_neighbours(frame.vectors, frame.coords, row, k)
        words = self.display_words()
        projected = {j for j, _ in cmp.projected}
        original = {j for j, _ in cmp.original}
        kept = [j for j, _ in cmp.original if j in projected]
        lost = [j for j, _ in cmp.original if j not in projected]
        screen_only = [j for j, _ in cmp.projected if j not in original]
        self.neighbours.show(words[row], [(words[j], v, j in projected) for j, v in cmp.original],
                             [(words[j], v, j in original) for j, v in cmp.projected], len(kept), k, len(words))
        self.plot.forced = [row]
        self.plot.preferred = [j for j, _ in cmp.original] + screen_only
        self.plot.set_selection(row, kept, lost, screen_only)
        self.comparison = cmp
        if repaint:  # the user's choice: one overlay at a time
            if self.analogy_answer is not None:
                self.analogy_answer = None
                self.plot.set_parallelogram(None)
            self.side.setCurrentIndex(0)
            self._painted()

    def clear_selection(self) -> None:
        self.selected = None
        self.neighbours.clear()
        self.plot.forced, self.plot.preferred = [], []
        self.plot.set_selection(None, [], [], [])

    def find_row(self, text: str) -> int | None:
        if self.shown is None:
            return None
        words = self.shown.words
        shown_forms = self.display_words()
        for candidates in (words, shown_forms):
            if text in candidates:
                return candidates.index(text)
        lower = text.lower()
        for i, w in enumerate(words):
            if w.lower() in (lower, " " + lower):  # a model's tokens carry their leading space
                return i
        return None

    def find_word(self, text: str | None = None) -> None:
        text = (self.search.text() if text is None else text).strip()
        if not text:
            return
        row = self.find_row(text)
        if row is None:
            rank = self.space.find(text) if self.space is not None else None
            n = len(self.shown) if self.shown is not None else 0
            frame = self.current_frame()
            if rank is not None and frame is not None and frame.method == "pca" and frame.step is None:
                # a large vocabulary: the word joins the projection (PCA is quick), then it is selected
                self.searched.append(rank)
                self._select_after_projection = self.space.words[rank]
                self.info(f"{text!r} is word {rank + 1:,} by frequency: projecting it with the {n:,} shown")
                self.run_projection()
            elif rank is not None:
                self.error(f"{text!r} is word {rank + 1:,} by frequency, not among the {n:,} shown; "
                           f"raise 'words' to {rank + 1} or more and run the projection")
            else:
                where = self.shown.vectors.source if self.shown is not None else "these vectors"
                self.error(f"{text!r} is not in the vocabulary of {where}")
            return
        self.select(row)
        self.plot.focus(self.plot.coords[[row, *(j for j, _ in self.comparison.original)]])  # and its true neighbours
        self.info(f"{self.display_words()[row]!r}: word {row + 1} by frequency")

    # --- positional encodings -------------------------------------------------------------------------

    def _page_changed(self) -> None:
        if self.pages.currentIndex() == 1 and self._positional_dirty:
            self.request_positional()
        elif self.pages.currentIndex() == 0:
            self._show_header()

    def request_positional(self, step: int | None = None, live: ModelRef | None = None) -> None:
        ref = live or self.ctx.model
        self._positional_dirty = False
        if ref is None:
            return
        handle = ref.handle

        def job() -> tuple[str, Any, int | None]:
            return ref.label(handle.step), positional_similarities(handle.model), step

        self.run(job, self._positional_ready, key="positional", what="comparing positional encodings")

    def _positional_ready(self, value: tuple[str, Any, int | None]) -> None:
        model, result, step = value
        self.positional.show_result(result, step)
        if self.pages.currentIndex() == 1:
            self.show_source(model, "positional encodings: cosine of every pair of positions")
        self.mark_painted()

    # --- results -------------------------------------------------------------------------------------

    def _colours_ready(self, tag: tuple[Frame, str, int], value: np.ndarray) -> None:
        self._colour_requests.discard(tag)
        frame = tag[0]
        if frame not in self.frames:
            return
        self.colour_cache[tag] = value
        if frame is self.current_frame() and tag[1] == self.colours.mode.currentData():
            self.plot.set_colouring(self._colouring_of(tag[1], value))
            if tag[1] == "disagreement":
                where = "on the screen" if frame.dims == 2 else "in the 3-D layout"
                self.info(f"mean neighbour disagreement {float(np.mean(value)):.2f}: on average that "
                          f"fraction of a word's {DISAGREEMENT_K} nearest words by cosine are not among "
                          f"its nearest points {where}")
            self._painted()

    # --- export --------------------------------------------------------------------------------------

    def export_widget(self) -> QWidget:
        return self.positional if self.pages.currentIndex() == 1 else self.plot

    def data_exports(self) -> dict[str, Any]:
        """CSV of the coordinates shown, or the source's vectors in the word2vec text format (.txt)."""
        return {".csv": self.write_coordinates, ".txt": self.write_vectors}

    def export_dialog(self, fmt: str) -> None:
        names = {"png": "embeddings.png", "svg": "embeddings.svg", "csv": "coordinates.csv", "txt": "vectors.txt"}
        path, _ = QFileDialog.getSaveFileName(self, f"Export {fmt.upper()}", names[fmt])
        if path:
            self.export(path)

    def write_vectors(self, path: Path) -> None:
        if self.space is None:
            raise UserError("no vectors to save yet")
        write_word2vec(self.space.vectors, path)

    def write_coordinates(self, path: Path) -> None:
        frame = self.current_frame()
        if frame is None or self.shown is None:
            raise UserError("no projection to export yet")
        n = len(frame.coords)
        extra: dict[str, np.ndarray] = {}
        if self.shown.counts is not None:
            extra["count"] = np.asarray(self.shown.counts[:n])
        for (f, mode, _k), values in self.colour_cache.items():
            if f is frame:
                extra["cluster" if mode == "cluster" else "neighbour_disagreement"] = np.round(values, 4)
        write_csv(path, list(self.shown.words[:n]), frame.coords, extra)
