"""The main window: the model picker in the toolbar, the views as tabs, a side panel, menus, remembered layout.

The window keeps what is the window's: tabs, menus, settings, the toolbar and the status bar (for what the
app itself does: opening a model or a corpus). What the app is on lives in the AppContext (app.context);
every view is an app.views.base.View made from it, and reaches the engine only through its own jobs.
"""

from __future__ import annotations

import html
import time

from PySide6.QtCore import QByteArray, QEventLoop, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QWidget,
)

from app.about import AboutDialog
from app.bridge import EngineBridge
from app.context import AppContext, Run, short_path
from app.tour import TourDialog
from app.views.ablation import AblationView
from app.views.arena import ArenaView
from app.views.attention import AttentionView
from app.views.base import View
from app.views.chat import ChatView
from app.views.decoding import DecodingView
from app.views.embeddings import EmbeddingsView
from app.views.fewshot import FewShotView
from app.views.fillmask import FillMaskView
from app.views.finetune import FineTuneView
from app.views.gradients import GradientsView
from app.views.heads import HeadScoresView
from app.views.lens import LogitLensView
from app.views.nexttoken import NextTokenView
from app.views.rlhf import FeedbackView, RlhfView
from app.views.rollout import RolloutView
from app.views.story import StoryView
from app.views.tokens import TokensView
from app.views.training import TrainingView
from app.views.translation import TranslationView
from app.widgets.names import named
from app.widgets.picker import ModelPicker

VIEW_CLASSES: list[type[View]] = [AttentionView, TrainingView, TokensView, NextTokenView, DecodingView,
                                  ChatView, FillMaskView, FineTuneView, TranslationView, StoryView, GradientsView,
                                  EmbeddingsView, ArenaView, AblationView, LogitLensView, HeadScoresView,
                                  FewShotView, RolloutView, FeedbackView, RlhfView]
SHORTCUTS = {"ablation": "Ctrl+Shift+A", "logit-lens": "Ctrl+Shift+L", "head-scores": "Ctrl+Shift+H",
             "few-shot": "Ctrl+Shift+K", "rollout": "Ctrl+Shift+R", "feedback": "Ctrl+Shift+B",
             "rlhf": "Ctrl+Shift+P"}  # views after the ninth (Ctrl+1..9: in order)
CLOSE_WAIT_S = 1.0  # closing waits this long for a stopped run to save, then leaves the engine behind


def all_view_keys() -> list[str]:
    return [cls.key for cls in VIEW_CLASSES]


class MainWindow(QMainWindow):
    def __init__(self, checkpoint: str | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Transformer Explorer")
        self.settings = settings or QSettings("TransformerExplorer", "TransformerExplorer")
        self.bridge = EngineBridge(self)
        self.ctx = AppContext(self.bridge, self.settings, self)
        self.engine_stopped = True  # False when closing left a busy engine thread behind
        self.closed = False
        self._closing = False
        self.tour: TourDialog | None = None
        self.about: AboutDialog | None = None

        self.views: dict[str, View] = {}
        self.tabs = named(QTabWidget(), "app.views", "Views")
        for cls in VIEW_CLASSES:
            view = cls(self.ctx)
            self.views[cls.key] = view
            self.tabs.addTab(view, cls.title)
        self.setCentralWidget(self.tabs)
        self.attention: AttentionView = self.views["attention"]  # type: ignore[assignment]
        self.training: TrainingView = self.views["training"]  # type: ignore[assignment]
        self.tokens: TokensView = self.views["tokens"]  # type: ignore[assignment]
        self.next_token: NextTokenView = self.views["next-token"]  # type: ignore[assignment]

        self.picker = ModelPicker(self.ctx)
        self.default_btn = named(QPushButton("Default model"), "model.use-default", "Use the default model",
                                 "Every view computes with the embedded default model")
        self.default_btn.clicked.connect(self.ctx.use_default)
        corner = self.model_corner = QWidget()  # the model in use, always in sight: right of the menu bar
        row = QHBoxLayout(corner)
        row.setContentsMargins(0, 1, 4, 1)
        row.addWidget(QLabel("Model:"))
        row.addWidget(self.picker)
        row.addWidget(self.default_btn)

        self.side = named(QLabel(), "app.side-panel", "The model, the run and the corpus")
        self.side.setTextFormat(Qt.TextFormat.RichText)
        self.side.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.side.setWordWrap(True)
        self.side.setMinimumWidth(220)
        dock = QDockWidget("Model, run and corpus", self)
        dock.setObjectName("sideDock")
        dock.setWidget(self.side)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.status_error = named(QLabel(), "app.error", "What went wrong")
        self.status_error.setStyleSheet("color: #b00020; font-weight: bold")
        self.statusBar().addPermanentWidget(self.status_error, 1)
        self._build_menu(dock)
        self.menuBar().setCornerWidget(corner, Qt.Corner.TopRightCorner)

        self.ctx.message.connect(self.show_message)
        self.ctx.modelChanged.connect(lambda _ref: self.refresh_side())
        self.ctx.runChanged.connect(self._run_changed)
        self.ctx.runProgress.connect(lambda _evs: self._side_timer.isActive() or self._side_timer.start())
        self.ctx.corpusChanged.connect(lambda c: (self.settings.setValue("lastCorpus", c), self.refresh_side()))
        self._side_timer = QTimer(self)  # the side panel follows a run at most twice a second
        self._side_timer.setSingleShot(True)
        self._side_timer.setInterval(500)
        self._side_timer.timeout.connect(self.refresh_side)

        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("windowState")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)
        self.tabs.setCurrentIndex(int(self.settings.value("tab", 0) or 0))
        self.refresh_side()
        self.ctx.open_model(checkpoint or None)  # every view waits for a model: it comes first
        if checkpoint:
            self.ctx.load_default()  # one click away, loaded behind the model asked for
        self.ctx.load_catalog()  # the real models the picker offers

    # --- menus -------------------------------------------------------------------------------

    def _build_menu(self, dock: QDockWidget) -> None:
        file_menu = self.menuBar().addMenu("&File")

        def add(menu, text: str, shortcut: QKeySequence | str | None, slot) -> QAction:
            act = QAction(text, self)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(slot)
            menu.addAction(act)
            return act

        add(file_menu, "Open text &corpus...", "Ctrl+Shift+O", self.open_corpus_dialog)
        add(file_menu, "&Open checkpoint...", QKeySequence.StandardKey.Open, self.picker.open_dialog)
        add(file_menu, "Use the &default model", "Ctrl+D", self.ctx.use_default)
        add(file_menu, "&Save the run's checkpoint as...", QKeySequence.StandardKey.Save, self.training.save_dialog)
        add(file_menu, "&Follow a run...", "Ctrl+Shift+F", self.follow_dialog)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        add(file_menu, "Export view as &PNG...", "Ctrl+E", lambda: self.export_dialog("png"))
        add(file_menu, "Export view as S&VG...", "Ctrl+Shift+E", lambda: self.export_dialog("svg"))
        add(file_menu, "Export attention &matrices (.npz)...", None, lambda: self.attention.export_dialog("npz"))
        file_menu.addSeparator()
        add(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        view_menu = self.menuBar().addMenu("&View")
        for i in range(self.tabs.count()):
            key = self.tabs.widget(i).key  # type: ignore[attr-defined]
            add(view_menu, self.tabs.tabText(i), f"Ctrl+{i + 1}" if i < 9 else SHORTCUTS.get(key),
                lambda _=False, k=i: self.tabs.setCurrentIndex(k))
        view_menu.addAction(dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        add(help_menu, "&Tour of the views...", None, self.show_tour)
        add(help_menu, "&About Transformer Explorer...", None, self.show_about)

    def show_tour(self) -> TourDialog:
        """The tour, not modal (one at a time), on its first page."""
        if self.tour is None:
            self.tour = TourDialog(self)
        self.tour.go(0)
        self.tour.show()
        self.tour.raise_()
        return self.tour

    def show_about(self) -> AboutDialog:
        if self.about is not None:
            self.about.close()
            self.about.deleteLater()
        self.about = AboutDialog(self)  # made anew: the model files may have been installed since
        self.about.show()
        return self.about

    def follow_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Follow a run: its checkpoint folder (or its .live folder)")
        if folder:
            self.follow(folder)

    def follow(self, folder: str) -> bool:
        """Watch the run another process trains in ``folder`` (engine.live) in the Training view."""
        result = self.ctx.follow_run(folder)
        if isinstance(result, str):
            self.training.show_error(result)
            return False
        self.training.header.clear_error()
        self.tabs.setCurrentIndex(self.view_index("training"))
        return True

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.ctx.recent():
            act = self.recent_menu.addAction(f"checkpoint: {short_path(path)}")
            act.triggered.connect(lambda _=False, p=path: self.ctx.open_model(p))
        corpus = self.settings.value("lastCorpus")
        if corpus:
            act = self.recent_menu.addAction(f"corpus: {corpus}")
            act.triggered.connect(lambda _=False, c=str(corpus): self.ctx.set_corpus(c))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(nothing yet)").setEnabled(False)

    def open_corpus_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open text corpus", str(self.settings.value("lastCorpus", "")),
                                              "Text files (*.txt);;All files (*)")
        if path:
            self.ctx.set_corpus(path)

    # --- what the window says ------------------------------------------------------------------

    @property
    def painted(self) -> dict[str, int]:
        """What each view has drawn so far (tests and --screenshot wait on it)."""
        return {key: view.painted for key, view in self.views.items()}

    def view_index(self, key: str) -> int:
        return self.tabs.indexOf(self.views[key])

    def current_view(self) -> View:
        return self.tabs.currentWidget()  # type: ignore[return-value]

    def show_message(self, level: str, text: str) -> None:
        """What the app itself did (a model or corpus opened) or could not do; an error stays until its next
        success."""
        if level == "error":
            self.status_error.setText(f"Error: {text}")
            self.status_error.setToolTip(text)
        else:
            self.status_error.clear()
            self.statusBar().showMessage(text, 10_000)

    @property
    def last_error(self) -> str:
        """The error the user sees now: the current view's, else the window's."""
        window = self.status_error.toolTip() if self.status_error.text() else ""
        return self.current_view().header.error_text or window

    def refresh_side(self) -> None:
        ctx, parts = self.ctx, []
        m = ctx.model
        if m is None:
            parts.append("<b>Model</b><br>loading\u2026")
        else:
            f = m.facts
            pretrained = f.get("architecture", "txe-gpt") != "txe-gpt"
            where = html.escape("the embedded default model (assets/default-model)" if m.source == "default" else
                                str(f.get("title") or m.name) if m.source == "named" else m.path or m.name)
            kv = f" sharing {f['H_kv']} key/value heads" if f.get("H_kv") and f["H_kv"] != f["H"] else ""
            kind = ("encoder (bidirectional)" if not f.get("causal", True) else "decoder (causal)")
            mlp = f["activation"] if f.get("mlp", "plain") == "plain" else f["mlp"]
            parts.append(
                f"<b>Model</b> (every view uses it)<br>{html.escape(m.label())}<br>{where}<br>"
                f"{html.escape(str(f.get('architecture', 'txe-gpt')))} {kind}<br>"
                f"L={f['L']} layers, H={f['H']} heads{kv}, d={f['d']}, d_k={f['d_k']}, m={f['m']}<br>"
                f"context T={f['context']:,}, {f['positional']} positions, {f.get('norm_kind', 'layernorm')} "
                f"({f['norm']}), {mlp}<br>{f['tokenizer']} tokenizer, V={f['vocab_size']:,}<br>"
                f"{f['parameters']:,} parameters<br>"
                + ("pretrained by its authors (token counts from the corpus below)" if pretrained else
                   f"trained on {html.escape(str(f['corpus']))}"))
        run = ctx.run
        if run is not None:
            folder = html.escape(short_path(run.folder)) if run.folder else "(not saved)"
            state = {"starting": "starting", "running": "training", "paused": "paused", "stopping": "stopping",
                     "finished": "stopped" if run.summary.get("stopped") else "finished",
                     "failed": "failed"}[run.state]
            if run.external:  # trained by another process: the app only watches it
                state = {"training": "followed", "stopped": "no longer followed"}.get(state, state)
            title = "Followed run" if run.external else "Training run"
            parts.append(f"<b>{title}</b><br>{folder}<br>{state}, step {run.step:,} of {run.steps:,}")
        parts.append(f"<b>Corpus</b> (training, tokenizers)<br>{html.escape(ctx.corpus)}")
        self.side.setText("<br><br>".join(parts))

    def _run_changed(self, run: Run) -> None:
        self.refresh_side()

    # --- export --------------------------------------------------------------------------------

    def export_dialog(self, fmt: str) -> None:
        view = self.current_view()
        path, _ = QFileDialog.getSaveFileName(self, f"Export {fmt.upper()}", f"{view.key}.{fmt}",
                                              {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)"}[fmt])
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        """The current view as PNG or SVG (some views also as data: the Attention view's .npz, ...)."""
        self.current_view().export(path)

    # --- closing -------------------------------------------------------------------------------

    def ask_stop_training(self, name: str) -> bool:
        keeps = {"training": " and keep the last checkpoint", "rl": " and keep the agent trained so far"}
        what = {"rl": "agent training"}.get(name, name)
        box = QMessageBox(QMessageBox.Icon.Question, f"{what[0].upper()}{what[1:]} is running",
                          f"Stop {what}{keeps.get(name, '')} and quit?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("stopTrainingQuestion")
        return box.exec() == QMessageBox.StandardButton.Yes

    def quit_now(self) -> None:
        """Close without asking (a signal from the system, a session ending): a running task is stopped."""
        self._closing = True
        self.close()

    def closeEvent(self, ev) -> None:  # noqa: N802
        task = self.bridge.task
        if task is not None and not self._closing and task.state != "stopping":
            if not self.ask_stop_training(task.name):
                ev.ignore()
                return
        self._closing = True
        if task is not None:
            task.stop()
            deadline = time.monotonic() + CLOSE_WAIT_S
            while self.bridge.task is not None and time.monotonic() < deadline:  # a run saves its checkpoint
                self.bridge.drain()
                QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
                time.sleep(0.01)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue("tab", self.tabs.currentIndex())
        self.settings.sync()
        self.engine_stopped = self.bridge.shutdown(0.5 if task is None else 0.2)
        self.closed = True
        super().closeEvent(ev)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1280, 800)
