"""The main window: a side panel, the views as tabs, a status bar, the File menu, remembered layout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QEventLoop, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from app.bridge import EngineBridge
from app.export import save_png, save_svg
from app.session import Session
from app.views.attention import AttentionData, AttentionView
from app.views.nexttoken import TOP, NextTokenView
from app.views.tokens import TokensView
from app.views.training import TrainingView
from engine.checkpoint import is_checkpoint, load_checkpoint, save_checkpoint
from engine.corpus import load_corpus
from engine.errors import UserError
from engine.inference import attention_for_text, next_token_distribution, score_text
from engine.tokenstats import split_text, tokenizer_for
from engine.training import PROBE_TEXT, Snapshot, TrainConfig, Trainer

VIEWS = ["attention", "training", "tokens", "next-token"]
# Further views, each a QWidget class with ``key``, ``title`` and ``attach(window)``; they use the bridge and
# count what they draw in ``window.painted[key]`` (tests and --screenshot wait on it).
EXTRA_VIEWS: list[str] = ["app.views.decoding:DecodingView", "app.views.embeddings:EmbeddingsView",
                          "app.views.arena:ArenaView"]


def extra_view_classes() -> list[type]:
    import importlib

    classes = []
    for spec in EXTRA_VIEWS:
        module, _, name = spec.partition(":")
        classes.append(getattr(importlib.import_module(module), name))
    return classes


def all_view_keys() -> list[str]:
    return VIEWS + [cls.key for cls in extra_view_classes()]


class MainWindow(QMainWindow):
    def __init__(self, checkpoint: str | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Transformer Explorer")
        self.settings = settings or QSettings("TransformerExplorer", "TransformerExplorer")
        self.session = Session()
        self.bridge = EngineBridge(self)
        self.last_error = ""
        self.painted: dict[str, int] = {v: 0 for v in all_view_keys()}  # results drawn per view
        self._closing = False

        self.attention = AttentionView()
        self.training = TrainingView()
        self.tokens = TokensView()
        self.next_token = NextTokenView()
        self.tabs = QTabWidget()
        for view, name in zip((self.attention, self.training, self.tokens, self.next_token),
                              ("Attention", "Training", "Tokens", "Next token"), strict=True):
            self.tabs.addTab(view, name)
        self.views: dict[str, QWidget] = {"attention": self.attention, "training": self.training,
                                          "tokens": self.tokens, "next-token": self.next_token}
        for cls in extra_view_classes():
            view = cls()
            self.views[cls.key] = view
            self.tabs.addTab(view, cls.title)
        self.setCentralWidget(self.tabs)
        self.side = QLabel()
        self.side.setTextFormat(Qt.TextFormat.RichText)
        self.side.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.side.setWordWrap(True)
        self.side.setMinimumWidth(220)
        self.side.setObjectName("sidePanel")
        dock = QDockWidget("Model and corpus", self)
        dock.setObjectName("sideDock")
        dock.setWidget(self.side)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b00020; font-weight: bold")
        self.statusBar().addPermanentWidget(self.error_label, 1)
        self._build_menu(dock)
        self._connect()
        for key in list(self.views)[len(VIEWS):]:
            self.views[key].attach(self)
        self.load_checkpoint(checkpoint or None)  # first in the engine's queue: every view needs a model
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("windowState")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)
        self.tabs.setCurrentIndex(int(self.settings.value("tab", 0) or 0))
        self.attention.set_text(PROBE_TEXT)

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
        add(file_menu, "&Open checkpoint...", QKeySequence.StandardKey.Open, self.open_checkpoint_dialog)
        add(file_menu, "&Save checkpoint as...", QKeySequence.StandardKey.Save, self.save_checkpoint_dialog)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        add(file_menu, "Export view as &PNG...", "Ctrl+E", lambda: self.export_dialog("png"))
        add(file_menu, "Export view as S&VG...", "Ctrl+Shift+E", lambda: self.export_dialog("svg"))
        add(file_menu, "Export attention &matrices (.npz)...", None, lambda: self.export_dialog("npz"))
        file_menu.addSeparator()
        add(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        view_menu = self.menuBar().addMenu("&View")
        for i in range(self.tabs.count()):
            add(view_menu, self.tabs.tabText(i), f"Ctrl+{i + 1}" if i < 9 else None,
                lambda _=False, k=i: self.tabs.setCurrentIndex(k))
        view_menu.addAction(dock.toggleViewAction())

    RECENT = 5

    def remember(self, kind: str, path: str) -> None:
        """Keep the last few checkpoints and corpora (most recent first) in the settings."""
        items = [p for p in (self.settings.value(f"recent/{kind}", []) or []) if p != path]
        self.settings.setValue(f"recent/{kind}", [path, *items][: self.RECENT])

    def recent(self, kind: str) -> list[str]:
        value = self.settings.value(f"recent/{kind}", []) or []
        return [value] if isinstance(value, str) else list(value)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for kind, opener in (("checkpoint", self.load_checkpoint), ("corpus", self.open_corpus)):
            for path in self.recent(kind):
                act = self.recent_menu.addAction(f"{kind}: {path}")
                act.triggered.connect(lambda _=False, p=path, o=opener: o(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(nothing yet)").setEnabled(False)

    def _connect(self) -> None:
        b = self.bridge
        b.message.connect(self.show_message)
        b.result.connect(self.on_result)
        b.progress.connect(self.training.add_progress)
        b.evaluation.connect(self.training.add_evaluations)
        b.snapshot.connect(self.on_snapshot)
        b.task_started.connect(lambda name: name == "training" and self.training.set_running(True))
        b.task_paused.connect(self.on_paused)
        b.task_saved.connect(lambda ev: self.show_message("info", f"checkpoint saved at step {ev.step}: {ev.path}"))
        b.task_finished.connect(self.on_finished)
        self.attention.analyseRequested.connect(self.request_attention)
        self.attention.exportRequested.connect(self.export_dialog)
        self.tokens.splitRequested.connect(self.request_split)
        self.next_token.analyseRequested.connect(self.request_next_token)
        self.training.startRequested.connect(self.start_training)
        self.training.pauseRequested.connect(b.pause)
        self.training.resumeRequested.connect(b.resume)
        self.training.stopRequested.connect(b.stop)
        self.training.saveAsRequested.connect(self.save_checkpoint_dialog)
        self.tabs.currentChanged.connect(self._tab_changed)

    # --- messages ------------------------------------------------------------------------------

    def show_message(self, level: str, text: str) -> None:
        if level == "error":
            self.last_error = text
            self.error_label.setText(f"Error: {text}")
        else:
            self.error_label.setText("")
            self.statusBar().showMessage(text, 10_000)

    def _refresh_side(self, live_step: int | None = None) -> None:
        self.side.setText(self.session.describe(live_step))

    # --- model and corpus ------------------------------------------------------------------------

    def load_checkpoint(self, path: str | Path | None) -> None:
        session = self.session

        def job() -> Any:
            if session.trainer is not None:
                raise UserError("stop the training run before opening another checkpoint")
            loaded = load_checkpoint(path)  # raises UserError on anything wrong: the old model stays
            # installed here, in the engine thread, so requests queued behind this one see the new model
            session.model, session.tokenizer = loaded.model, loaded.tokenizer
            session.checkpoint, session.config = loaded.path, loaded.config
            session.vocab_cache.clear()
            return loaded

        self.bridge.submit("load", job, tag=path)

    def open_checkpoint_dialog(self) -> None:
        start = str(self.settings.value("lastCheckpoint", "") or "")
        path = QFileDialog.getExistingDirectory(self, "Open checkpoint folder", start)
        if path:
            self.load_checkpoint(path)

    def open_corpus(self, path: str) -> None:
        def job() -> Any:
            corpus = load_corpus(path)  # validates: empty, binary, not UTF-8, huge -> UserError
            return path, len(corpus.text)

        self.bridge.submit("corpus", job)

    def open_corpus_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open text corpus", str(self.settings.value("lastCorpus", "")),
                                              "Text files (*.txt);;All files (*)")
        if path:
            self.open_corpus(path)

    def save_checkpoint_to(self, path: str) -> None:
        session = self.session

        def job() -> Any:
            if session.trainer is not None:
                return str(session.trainer.save(path))
            if session.model is None or session.tokenizer is None:
                raise UserError("there is no model to save")
            return str(save_checkpoint(path, session.model, session.tokenizer,
                                       extra={k: v for k, v in session.config.items()
                                              if k not in ("format", "version", "model", "tokenizer")}))

        self.bridge.submit("save", job)

    def save_checkpoint_dialog(self) -> None:
        path = QFileDialog.getSaveFileName(self, "Save checkpoint as (a folder)", "runs/saved")[0]
        if path:
            self.save_checkpoint_to(path)

    # --- analysis requests (run in the engine thread) ---------------------------------------------

    def request_attention(self, text: str, scores: bool) -> None:
        s = self.session

        def job() -> AttentionData:
            if s.model is None:
                raise UserError("no model loaded")
            cap = attention_for_text(s.model, s.tokenizer, text, window="last", scores=scores)
            return AttentionData(cap.tokens, cap.attention, cap.scores, None, cap.truncated)

        self.bridge.submit("attention", job)

    def request_next_token(self, prompt: str, position: int) -> None:
        s = self.session

        def job() -> dict:
            if s.model is None:
                raise UserError("no model loaded")
            score = score_text(s.model, s.tokenizer, prompt)
            if 0 <= position < len(score.ids):
                before = s.tokenizer.decode(score.ids[:position])
                actual = score.tokens[position]
            else:
                before, actual = prompt, None
            nt = next_token_distribution(s.model, s.tokenizer, before)
            top = nt.top(s.tokenizer, TOP)
            rest = max(0.0, 1.0 - sum(p for _, p in top))
            return {"top": top, "rest": rest, "actual": actual, "tokens": score.tokens, "probs": score.probs,
                    "logprob": score.logprob, "position": position if actual is not None else -1}

        self.bridge.submit("next-token", job)

    def request_split(self, text: str, kind: str) -> None:
        s = self.session

        def job() -> tuple:
            if kind == "model":
                if s.tokenizer is None:
                    raise UserError("no model loaded")
                tok, corpus = s.tokenizer, s.config.get("corpus") or s.corpus
            else:
                tok, corpus = tokenizer_for(s.corpus, kind), s.corpus
            return text, split_text(tok, text), s.vocabulary_of(tok, corpus)

        self.bridge.submit("tokens", job)

    def view_index(self, key: str) -> int:
        return self.tabs.indexOf(self.views[key])

    def _tab_changed(self, index: int) -> None:
        name = list(self.views)[index]
        if name == "tokens" and not self.painted["tokens"]:
            self.tokens.request()
        elif name == "next-token" and not self.painted["next-token"]:
            self.next_token.request()

    # --- results -------------------------------------------------------------------------------

    def on_result(self, kind: str, tag: Any, value: Any) -> None:
        if kind == "load":
            if tag:
                self.settings.setValue("lastCheckpoint", str(value.path))
                self.remember("checkpoint", str(value.path))
            self._refresh_side()
            self.show_message("info", f"loaded {value.path}")
            if tag:  # a model the user opened: redo what the views show (at start-up they ask after the load)
                for view in ("attention", "tokens", "next-token"):
                    if self.painted[view] or view == "attention":
                        self._rerequest(view)
        elif kind == "attention":
            self.attention.display(value)
            self.painted["attention"] += 1
        elif kind == "next-token":
            self.next_token.show_result(value)
            self.painted["next-token"] += 1
        elif kind == "tokens":
            self.tokens.show_split(*value)
            self.painted["tokens"] += 1
        elif kind == "corpus":
            path, n = value
            self.session.corpus = path
            self.training.corpus.setText(path)
            self.settings.setValue("lastCorpus", path)
            self.remember("corpus", path)
            self._refresh_side()
            self.show_message("info", f"corpus {path}: {n:,} characters")
        elif kind == "save":
            self.show_message("info", f"checkpoint saved: {value}")
        elif kind == "trainer-ready":
            self._refresh_side()

    def _rerequest(self, view: str) -> None:
        if view == "attention" and self.attention.text.text():
            self.attention.request()
        elif view == "tokens":
            self.tokens.request()
        elif view == "next-token":
            self.next_token.request()

    def on_snapshot(self, snap: Snapshot) -> None:
        self.attention.add_snapshot(AttentionData(snap.tokens, snap.attention, None, snap.step))
        self.painted["attention"] += 1
        self._refresh_side(snap.step)

    # --- training ------------------------------------------------------------------------------

    def start_training(self, cfg: TrainConfig) -> None:
        session = self.session
        bridge = self.bridge

        def make(token):
            trainer = Trainer(cfg)  # loads the corpus and trains the tokenizer here, in the engine thread
            session.trainer = trainer
            session.model, session.tokenizer = trainer.model, trainer.tokenizer
            session.checkpoint = Path(cfg.out) if cfg.out else None
            session.config = {"corpus": cfg.corpus, "step": 0}
            session.vocab_cache.clear()
            bridge.submit("trainer-ready", lambda: None)
            return trainer.run(token)

        self.training.reset_curves()
        self.attention.clear_snapshots()
        self.attention.follow_box.setChecked(True)
        if self.bridge.start_task("training", make):
            self.training.set_running(True)
            self.show_message("info", "training started")

    def on_paused(self, name: str, paused: bool) -> None:
        if name == "training":
            self.training.set_running(True, paused)
            self._refresh_side(self.training.progress.value())

    def on_finished(self, name: str, finished: Any) -> None:
        if name != "training":
            return
        self.training.set_running(False)
        trainer = self.session.trainer
        if trainer is not None:
            self.session.config = {**self.session.config, "step": trainer.step}
            self.session.trainer = None
        self._refresh_side()
        if finished is not None:
            s = finished.summary
            how = "stopped" if s.get("stopped") else "finished"
            val = f"{s['val_loss']:.3f}" if s.get("val_loss") is not None else "-"
            self.show_message("info", f"training {how} at step {s.get('steps')}: val loss {val}; "
                                      f"checkpoint {s.get('checkpoint') or '(not saved)'}")

    # --- export --------------------------------------------------------------------------------

    def export_dialog(self, fmt: str) -> None:
        filters = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "npz": "NumPy archive (*.npz)"}
        path, _ = QFileDialog.getSaveFileName(self, f"Export {fmt.upper()}", f"attention.{fmt}", filters[fmt])
        if path:
            self.export(path)

    def current_export_widget(self) -> QWidget:
        view = self.tabs.currentWidget()
        if view is self.attention:
            return self.attention.stack.currentWidget()
        return view

    def export(self, path: str) -> None:
        """PNG or SVG of the current view, or .npz of the attention matrices shown."""
        p = Path(path)
        try:
            if p.suffix == ".npz":
                data = self.attention.current
                if data is None:
                    raise UserError("no attention to export yet")
                np.savez_compressed(p, attention=data.attention, tokens=np.array(data.tokens),
                                    **({"scores": data.scores} if data.scores is not None else {}))
            elif p.suffix == ".png":
                save_png(self.current_export_widget(), p)
            elif p.suffix == ".svg":
                save_svg(self.current_export_widget(), p)
            else:
                raise UserError(f"export to {p.suffix or 'a file without extension'} is not supported; "
                                "use .png, .svg or .npz")
        except (UserError, OSError) as e:
            self.show_message("error", str(e))
            return
        self.show_message("info", f"exported {p}")

    # --- closing -------------------------------------------------------------------------------

    def ask_stop_training(self) -> bool:
        name = self.bridge.task_name or "training"
        box = QMessageBox(QMessageBox.Icon.Question, f"{name.capitalize()} is running",
                          f"Stop {name} and keep the last checkpoint?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("stopTrainingQuestion")
        return box.exec() == QMessageBox.StandardButton.Yes

    def closeEvent(self, ev) -> None:  # noqa: N802
        if self.bridge.busy and not self._closing:
            if not self.ask_stop_training():
                ev.ignore()
                return
            self._closing = True
            self.bridge.stop()
            deadline = time.monotonic() + 120
            while self.bridge.busy and time.monotonic() < deadline:  # the run saves its checkpoint
                self.bridge._drain()
                QTimer.singleShot(50, lambda: None)
                from PySide6.QtWidgets import QApplication

                QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue("tab", self.tabs.currentIndex())
        self.bridge.shutdown()
        super().closeEvent(ev)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1280, 800)


def is_checkpoint_folder(path: str) -> bool:
    return is_checkpoint(path)
