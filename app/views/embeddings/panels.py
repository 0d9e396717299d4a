"""The Embeddings view's panels: projection settings, colour and labels, skip-gram training (with its loss
per epoch), the animation bar, the neighbour comparison and the analogy workbench. Widgets only: the view
(app/views/embeddings.py) wires them to the engine."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.widgets.names import name_controls
from engine.embeddings.word2vec import Word2VecConfig

LOST_COLOUR = QColor("#c62828")  # a true neighbour the projection put far away
SCREEN_ONLY_COLOUR = QColor("#e65100")  # near on the screen only


def spin(lo: int, hi: int, value: int, tip: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setMinimumWidth(50)
    box.setRange(lo, hi)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def combo(items: list[tuple[str, str]]) -> QComboBox:
    """A combo box that may shrink below its longest item (the side column is narrow)."""
    box = QComboBox()
    for text, data in items:
        box.addItem(text, data)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(6)
    return box


def small_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #555")
    return label


class ProjectionPanel(QGroupBox):
    """PCA or t-SNE settings in 2-D or 3-D, fixed before a run; Run / Cancel and progress."""

    def __init__(self) -> None:
        super().__init__("Projection")
        self.method = combo([("PCA", "pca"), ("t-SNE", "tsne")])
        self.dims = combo([("2-D", "2"), ("3-D", "3")])
        self.dims.setToolTip("3-D: drag with the left mouse button to rotate, the wheel zooms.\n"
                             "A PCA picture (also a training run's frames) changes at once;\n"
                             "a t-SNE picture changes when you press Run.")
        self.words = spin(3, 10_000, 500, "project the N most frequent words")
        self.perplexity = QDoubleSpinBox()
        self.perplexity.setRange(1.0, 200.0)
        self.perplexity.setValue(30.0)
        self.perplexity.setToolTip("t-SNE: roughly how many neighbours each point attends to")
        self.iterations = spin(50, 10_000, 750, "t-SNE iterations (the first 250 with early exaggeration)")
        self.seed = spin(0, 1_000_000, 1, "t-SNE random seed (the same seed gives the same picture)")
        self.run = QPushButton("Run")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.follow_training = QCheckBox("follow a transformer run")
        self.follow_training.setChecked(True)
        self.follow_training.setToolTip("while a transformer trains in the Training view, project its token\n"
                                        "embeddings (PCA, aligned) at each probe snapshot, when the source is\n"
                                        "the model")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setMaximumHeight(14)
        form = QFormLayout(self)
        form.addRow("method", self.method)
        form.addRow("view", self.dims)
        form.addRow("words", self.words)
        form.addRow("perplexity", self.perplexity)
        form.addRow("iterations", self.iterations)
        form.addRow("seed", self.seed)
        row = QHBoxLayout()
        row.addWidget(self.run)
        row.addWidget(self.cancel)
        form.addRow(row)
        form.addRow(self.progress)
        form.addRow(self.follow_training)
        self.method.currentIndexChanged.connect(self._method_changed)
        self._method_changed()
        name_controls(self, "embeddings", {
            "method": ("method", "Projection method"), "dims": ("dims", "2-D or 3-D"),
            "words": ("words", "How many words to project"), "perplexity": ("perplexity", "t-SNE perplexity"),
            "iterations": ("iterations", "t-SNE iterations"), "seed": ("seed", "t-SNE seed"),
            "run": ("project", "Run the projection"), "cancel": ("cancel-projection", "Cancel t-SNE"),
            "follow_training": ("follow-training", "Follow a transformer training run"),
            "progress": ("projection-progress", "t-SNE progress")})

    def _method_changed(self) -> None:
        tsne = self.method.currentData() == "tsne"
        for w in (self.perplexity, self.iterations, self.seed):
            w.setEnabled(tsne)

    def dimensions(self) -> int:
        return int(self.dims.currentData())

    def set_running(self, running: bool) -> None:
        for w in (self.method, self.dims, self.words, self.run):
            w.setEnabled(not running)
        for w in (self.perplexity, self.iterations, self.seed):
            w.setEnabled(not running and self.method.currentData() == "tsne")
        self.cancel.setEnabled(running)
        if not running:
            self.progress.setValue(0)
            self.progress.setFormat("")


class ColourPanel(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Colour and labels")
        self.mode = combo([("frequency (log)", "frequency"), ("k-means cluster", "cluster"),
                           ("neighbour disagreement", "disagreement")])
        self.mode.setToolTip("disagreement: the fraction of a word's 10 nearest words by cosine that are not\n"
                             "among its 10 nearest points in the 2-D or 3-D layout (0 = the projection is\n"
                             "faithful there)")
        self.k = spin(2, 16, 8, "number of k-means clusters (on unit vectors: by cosine)")
        self.labels = spin(0, 300, 40, "how many frequent words get a label (more appear as you zoom in)")
        form = QFormLayout(self)
        form.addRow("colour by", self.mode)
        form.addRow("clusters k", self.k)
        form.addRow("labels", self.labels)
        name_controls(self, "embeddings", {"mode": ("colour", "Colour the points by"),
                                           "k": ("clusters", "Number of clusters"),
                                           "labels": ("labels", "How many words get a label")})


class SkipGramPanel(QGroupBox):
    """Corpus and skip-gram settings (Eq. 11.3-11.5), Train / Pause / Stop, progress and loss per epoch."""

    def __init__(self) -> None:
        super().__init__("Skip-gram (word2vec), trained here")
        self.corpus = QLineEdit("shakespeare")
        self.corpus.setToolTip("'shakespeare' or a UTF-8 text file")
        self.browse = QPushButton("\u2026")
        self.browse.setFixedWidth(28)
        self.dim = spin(2, 1000, 50, "vector dimension d")
        self.window = spin(1, 20, 5, "window c of Eq. 11.3: context words up to c away")
        self.epochs = spin(1, 1000, 5)
        self.min_count = spin(1, 1000, 5, "drop words seen fewer times")
        self.negative = spin(0, 50, 5, "negative samples K; 0 = the full softmax of Eq. 11.4 (small vocabularies)")
        self.seed = spin(0, 1_000_000, 1)
        self.train = QPushButton("Train")
        self.pause = QPushButton("Pause")
        self.stop = QPushButton("Stop")
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(14)
        self.progress.setFormat("")
        self.status = small_label()
        self.loss = pg.PlotWidget(background="w")
        self.loss.setMinimumHeight(130)
        self.loss.setMaximumHeight(150)
        self.loss.setLabel("bottom", "epoch")
        self.loss.setLabel("left", "loss / pair")
        self.loss.getAxis("left").enableAutoSIPrefix(False)
        self.loss.setTitle("<span style='color:#1f77b4'>\u25cf online</span>&nbsp;&nbsp;"
                           "<span style='color:#ff7f0e'>\u25a0 frozen vectors</span>", size="8pt")
        self.loss.setMouseEnabled(False, False)
        self.loss_online = self.loss.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=5,
                                          symbolBrush="#1f77b4", name="online")
        self.loss_frozen = self.loss.plot([], [], pen=pg.mkPen("#ff7f0e", width=2), symbol="s", symbolSize=5,
                                          symbolBrush="#ff7f0e", name="frozen vectors")
        self.loss_hint = pg.TextItem("loss per epoch appears here", color="#888", anchor=(0.5, 0.5))
        self.loss.addItem(self.loss_hint)
        self.loss_hint.setPos(0.5, 0.5)
        self.loss.setRange(xRange=(0, 1), yRange=(0, 1))
        for side in ("left", "bottom"):
            self.loss.getAxis(side).setStyle(showValues=False)
        corpus_row = QHBoxLayout()
        corpus_row.addWidget(self.corpus, 1)
        corpus_row.addWidget(self.browse)
        grid = QGridLayout()
        for i, (label, w) in enumerate((("dim", self.dim), ("window", self.window), ("epochs", self.epochs),
                                        ("min count", self.min_count), ("negative K", self.negative),
                                        ("seed", self.seed))):
            grid.addWidget(QLabel(label), i // 2, (i % 2) * 2)
            grid.addWidget(w, i // 2, (i % 2) * 2 + 1)
        buttons = QHBoxLayout()
        for b in (self.train, self.pause, self.stop):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        corpus_row.insertWidget(0, QLabel("corpus"))
        lay.addLayout(corpus_row)
        lay.addLayout(grid)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.loss)
        self.set_running(False)
        name_controls(self, "embeddings", {
            "corpus": ("skipgram-corpus", "Skip-gram corpus"), "browse": ("skipgram-browse", "Choose a corpus file"),
            "dim": ("skipgram-dim", "Vector dimension"), "window": ("skipgram-window", "Context window"),
            "epochs": ("skipgram-epochs", "Epochs"), "min_count": ("skipgram-min-count", "Minimum count"),
            "negative": ("skipgram-negative", "Negative samples"), "seed": ("skipgram-seed", "Random seed"),
            "train": ("skipgram-train", "Train skip-gram"), "pause": ("skipgram-pause", "Pause or resume skip-gram"),
            "stop": ("skipgram-stop", "Stop skip-gram"), "progress": ("skipgram-progress", "Skip-gram progress"),
            "loss": ("skipgram-loss", "Loss per epoch")})

    def config(self) -> Word2VecConfig:
        return Word2VecConfig(dim=self.dim.value(), window=self.window.value(), epochs=self.epochs.value(),
                              min_count=self.min_count.value(), negative=self.negative.value(),
                              seed=self.seed.value())

    def set_running(self, running: bool, paused: bool = False) -> None:
        for w in (self.corpus, self.browse, self.dim, self.window, self.epochs, self.min_count, self.negative,
                  self.seed, self.train):
            w.setEnabled(not running)
        self.pause.setEnabled(running)
        self.stop.setEnabled(running)
        self.pause.setText("Resume" if paused else "Pause")

    def reset_loss(self) -> None:
        self.epoch_x: list[float] = []
        self.online: list[float] = []
        self.frozen: list[float] = []
        self.loss_online.setData([], [])
        self.loss_frozen.setData([], [])

    def add_epoch(self, epoch: int, online: float, frozen: float) -> None:
        if self.loss_hint.isVisible():
            self.loss_hint.setVisible(False)
            for side in ("left", "bottom"):
                self.loss.getAxis(side).setStyle(showValues=True)
            self.loss.enableAutoRange()
        self.epoch_x.append(epoch)
        if len(self.epoch_x) <= 12:  # whole epochs only
            self.loss.getAxis("bottom").setTicks([[(e, str(e)) for e in self.epoch_x]])
        else:
            self.loss.getAxis("bottom").setTicks(None)
        self.online.append(online)
        self.frozen.append(frozen)
        self.loss_online.setData(self.epoch_x, self.online)
        self.loss_frozen.setData(self.epoch_x, self.frozen)


class AnimationBar(QWidget):
    """Scrub through the stored frames of a training run; play them back; follow the newest."""

    def __init__(self) -> None:
        super().__init__()
        self.play = QPushButton("\u25b6")
        self.play.setFixedWidth(32)
        self.play.setToolTip("play the stored frames from the start")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.label = QLabel("no training frames")
        self.label.setMinimumWidth(60)
        self.frames_btn = QPushButton("frames")
        self.frames_btn.setToolTip("show the frames of the last skip-gram run again (after a t-SNE still)")
        self.frames_btn.setEnabled(False)
        self.follow = QCheckBox("follow newest")
        self.follow.setChecked(True)
        self.follow.setToolTip("show each new frame as it arrives (moving the slider to the end does the same)")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.slider.setMinimumWidth(100)
        lay.addWidget(self.play)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        lay.addWidget(self.follow)
        lay.addWidget(self.frames_btn)
        name_controls(self, "embeddings", {"play": ("play", "Play the training frames"),
                                           "slider": ("frame", "Training frame shown"),
                                           "label": ("frame-label", "Frame shown"),
                                           "follow": ("follow-frames", "Follow the newest frame"),
                                           "frames_btn": ("frames", "Show the last run's frames")})


def neighbour_table(value: str) -> QTreeWidget:
    """Two columns, word and value; the value column always fits, long words are elided."""
    table = QTreeWidget()
    table.setColumnCount(2)
    table.setHeaderLabels(["word", value])
    table.setRootIsDecorated(False)
    table.setFont(QFont("monospace", 9))
    table.header().setStretchLastSection(False)
    table.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    return table


class NeighboursPanel(QWidget):
    """A word's nearest words by cosine in the d-dim space next to its nearest points on the screen."""

    def __init__(self) -> None:
        super().__init__()
        self.title = QLabel("Click a word (or search one) to compare its neighbours.")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.k = spin(1, 50, 10, "how many neighbours to compare")
        self.original = neighbour_table("cosine")
        self.projected = neighbour_table("distance")
        self.summary = small_label()
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.where = "on the screen"
        lists = QGridLayout()
        head_o = QLabel("<b>cosine</b> (d-dim)")
        head_o.setToolTip("nearest words by cosine similarity in the original space (Eq. 11.1)")
        self.head_p = QLabel("<b>2-D distance</b>")
        self.head_p.setToolTip("nearest points in the layout")
        lists.addWidget(head_o, 0, 0)
        lists.addWidget(self.head_p, 0, 1)
        lists.addWidget(self.original, 1, 0)
        lists.addWidget(self.projected, 1, 1)
        krow = QHBoxLayout()
        krow.addWidget(QLabel("neighbours k"))
        krow.addWidget(self.k)
        krow.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(krow)
        lay.addLayout(lists, 1)
        lay.addWidget(self.summary)
        name_controls(self, "embeddings", {"k": ("neighbours-k", "How many neighbours to compare"),
                                           "original": ("neighbours-cosine", "Nearest words by cosine"),
                                           "projected": ("neighbours-layout", "Nearest points in the layout")})

    def set_dims(self, dims: int) -> None:
        """The layout's distances are measured in its 2 or 3 dimensions."""
        self.head_p.setText(f"<b>{dims}-D distance</b>")
        self.where = "on the screen" if dims == 2 else "in the 3-D layout"

    def show(self, word: str, original: list[tuple[str, float, bool]], projected: list[tuple[str, float, bool]],
             kept: int, k: int, among: int) -> None:
        """Each entry: (word, cosine or distance, whether the other list has it too)."""
        self.title.setText(f"Neighbours of <b>{_esc(word)}</b> among the {among} words shown")
        for table, entries, colour, fmt in ((self.original, original, LOST_COLOUR, "{:+.3f}"),
                                            (self.projected, projected, SCREEN_ONLY_COLOUR, "{:.3g}")):
            table.clear()
            for w, value, shared in entries:
                item = QTreeWidgetItem([w if shared else f"\u2717 {w}", fmt.format(value)])
                item.setData(0, Qt.ItemDataRole.UserRole, w)
                item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if not shared:
                    for col in (0, 1):
                        item.setForeground(col, colour)
                    why = "the projection put this word far away" if table is self.original \
                        else f"near {self.where} only"
                    item.setToolTip(0, f"only in this list: {why}")
                table.addTopLevelItem(item)
        self.summary.setText(f"{kept} of {k} true neighbours are also neighbours {self.where}. "
                             f"<span style='color:{LOST_COLOUR.name()}'>\u2717 red</span>: put far away by the "
                             f"projection; <span style='color:{SCREEN_ONLY_COLOUR.name()}'>\u2717 orange</span>: "
                             f"near {self.where} only.")

    def clear(self) -> None:
        self.title.setText("Click a word (or search one) to compare its neighbours.")
        self.original.clear()
        self.projected.clear()
        self.summary.setText("")


class AnalogyPanel(QWidget):
    """a - b + c (Eq. 11.2: paris - france + italy = rome), answers with scores, inputs excluded."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = QLineEdit(), QLineEdit(), QLineEdit()
        self.example = ("king", "man", "woman")
        self.set_example(*self.example)
        self.method = combo([("3CosAdd", "add"), ("3CosMul", "mul")])
        self.method.setToolTip("3CosAdd: argmax cos(x,a) - cos(x,b) + cos(x,c)\n"
                               "3CosMul: argmax cos'(x,a) cos'(x,c) / (cos'(x,b) + 0.001), cos' = (cos+1)/2")
        self.solve = QPushButton("Solve")
        self.answers = QListWidget()
        self.answers.setFont(QFont("monospace", 9))
        self.message = small_label()
        self.message.setTextFormat(Qt.TextFormat.RichText)
        row = QHBoxLayout()
        for w, sign in ((self.a, None), (self.b, "\u2212"), (self.c, "+")):
            if sign:
                row.addWidget(QLabel(sign))
            row.addWidget(w)
        explain = small_label("Which word is to c as a is to b? The answer x maximises the score over all "
                              "words of the source, a, b and c excluded; the plot draws the parallelogram "
                              "b \u2192 a, c \u2192 x (parallel sides in an ideal analogy). "
                              "Click an answer to draw it.")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>a \u2212 b + c</b>"))
        lay.addLayout(row)
        mrow = QHBoxLayout()
        mrow.addWidget(self.method)
        mrow.addWidget(self.solve)
        lay.addLayout(mrow)
        lay.addWidget(self.answers, 1)
        lay.addWidget(self.message)
        lay.addWidget(explain)
        for w in (self.a, self.b, self.c):
            w.returnPressed.connect(self.solve.click)
        name_controls(self, "embeddings", {"a": ("analogy-a", "Analogy word a"), "b": ("analogy-b", "Analogy word b"),
                                           "c": ("analogy-c", "Analogy word c"),
                                           "method": ("analogy-method", "Analogy score"),
                                           "solve": ("analogy-solve", "Solve the analogy"),
                                           "answers": ("analogy-answers", "Answers")})

    def inputs(self) -> tuple[str, str, str]:
        """The three words typed; with all three fields empty, the example their placeholders show."""
        typed = tuple(w.text().strip() for w in (self.a, self.b, self.c))
        if not any(typed):
            return self.example
        return typed  # type: ignore[return-value]

    def set_example(self, a: str, b: str, c: str) -> None:
        """The example shown (greyed) in the empty fields: Solve with nothing typed answers it."""
        self.example = (a, b, c)
        for w, word in zip((self.a, self.b, self.c), self.example, strict=True):
            w.setPlaceholderText(word)

    def error(self, text: str) -> None:
        self.answers.clear()
        self.message.setText(f"<span style='color:#b00020'>{_esc(text)}</span>")


def _esc(text: str) -> str:
    import html

    return html.escape(text)
