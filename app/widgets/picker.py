"""The model picker (``model.picker``): the model every view computes with, always in sight in the menu bar.

Its items: the embedded default model, the real models installed with the app (SmolLM2-135M-Instruct,
all-MiniLM-L6-v2), the training run (its live weights while it trains, its saved checkpoint after), recent
checkpoints, folders and .gguf files, and Open... . Choosing one loads it in the engine thread; until it
has loaded (or if it cannot be), the picker shows the model still in use."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QSizePolicy, QWidget

from app.context import AppContext, short_path, short_title
from app.widgets.names import named

OPEN, OPEN_FILE = "open", "open-file"


class ModelPicker(QComboBox):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "model.picker", "Model", "The model every view computes with")
        self.ctx = ctx
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(34)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._filling = False
        self.activated.connect(self._chosen)
        ctx.choicesChanged.connect(self.fill)
        ctx.modelChanged.connect(lambda _ref: self.fill())
        self.fill()

    def entries(self) -> list[tuple[str, tuple[str, str | None]]]:
        """(text, (what, folder)) for each item, in order."""
        ctx, out = self.ctx, []
        d = ctx.default
        out.append((f"Default model ({d.facts['tokenizer']}, {d.facts['L']} layers, step {d.step:,})" if d
                    else "Default model (built in)", ("default", None)))
        for m in ctx.catalog:
            if m["name"] != "default":
                kind = "encoder" if not m["causal"] else ("instruct" if m["chat"] else "decoder")
                out.append((f"{short_title(m['title'])} ({m['architecture']} {kind}, {m['layers']} layers, "
                            f"{m['parameters'] / 1e6:.0f}M)", ("named", m["name"])))
        run = ctx.run
        shown_run = None
        if run is not None and run.ref is not None:
            if run.ref.live:
                out.append((f"Run {short_path(run.folder) if run.folder else ''} (training, live weights)",
                            ("run", None)))
            else:
                shown_run = run.ref.path
                out.append((f"Run {run.ref.name}, step {run.ref.step:,}", ("run", None)))
        current = ctx.model
        folders = list(ctx.recent())
        if current is not None and current.source == "checkpoint" and current.path not in folders:
            folders.insert(0, current.path or "")
        for folder in folders:
            if folder and folder != shown_run:
                out.append((short_path(folder), ("checkpoint", folder)))
        out.append(("Open a model folder (checkpoint or Hugging Face)\u2026", (OPEN, None)))
        out.append(("Open a .gguf file\u2026", (OPEN_FILE, None)))
        return out

    def current_entry(self) -> tuple[str, str | None] | None:
        m = self.ctx.model
        if m is None:
            return None
        if m.source == "default":
            return ("default", None)
        if m.source == "named":
            return ("named", m.key.partition(":")[2])
        run = self.ctx.run
        if run is not None and run.ref is not None and run.ref.key == m.key:
            return ("run", None)
        return ("checkpoint", m.path)

    def fill(self) -> None:
        self._filling = True
        self.clear()
        for text, data in self.entries():
            self.addItem(text, data)
        current = self.current_entry()
        for i in range(self.count()):
            if self.itemData(i) == current:
                self.setCurrentIndex(i)
                break
        m = self.ctx.model
        self.setToolTip(f"The model every view computes with: {m.label()}\n{m.summary()}" if m else
                        "The model every view computes with (loading\u2026)")
        self._filling = False

    def _chosen(self, index: int) -> None:
        if self._filling:
            return
        what, folder = self.itemData(index)
        if what == "default":
            self.ctx.use_default()
        elif what == "run":
            self.ctx.use_run_model()
        elif what in ("checkpoint", "named") and folder:
            self.ctx.open_model(folder)
        elif what in (OPEN, OPEN_FILE):
            self.fill()  # show the model in use while the dialog is open
            self.open_dialog(file=what == OPEN_FILE)

    def ask_path(self, file: bool = False) -> str:
        """A model folder (or with ``file`` a .gguf file) the user picks; "" if none."""
        start = str(Path(self.ctx.recent()[0] if self.ctx.recent() else "runs").resolve().parent)
        if file:
            path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model (llama architecture)", start,
                                                  "GGUF models (*.gguf);;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Open a model folder (checkpoint or Hugging Face)", start)
        return path

    def open_dialog(self, file: bool = False) -> None:
        path = self.ask_path(file)
        if path:
            self.ctx.open_model(path)


class OtherModelPicker(ModelPicker):
    """A second model beside the one in use (the Attention view's diff): the same entries as the model picker,
    but choosing one only says which (``chosen``); the model every view uses stays as it is. ``choice`` is
    (what, folder or name) as in :meth:`ModelPicker.entries`."""

    chosen = Signal()

    def __init__(self, ctx: AppContext, object_name: str, accessible: str, parent: QWidget | None = None) -> None:
        self.choice: tuple[str, str | None] = ("default", None)
        super().__init__(ctx, parent)
        named(self, object_name, accessible)
        self.setMinimumContentsLength(22)

    def current_entry(self) -> tuple[str, str | None] | None:
        return self.choice

    def fill(self) -> None:
        super().fill()
        self.setToolTip("The model to compare with the one in use (which stays the model of every view)")

    def _chosen(self, index: int) -> None:
        if self._filling:
            return
        what, folder = self.itemData(index)
        if what in (OPEN, OPEN_FILE):
            path = self.ask_path(file=what == OPEN_FILE)
            if not path:
                self.fill()
                return
            self.choice = ("checkpoint", path)
            self.ctx.remember(path)  # on the list from now on (refills)
        else:
            self.choice = (what, folder)
        self.fill()
        self.chosen.emit()

    def choose(self, what: str, folder: str | None = None) -> None:
        """Pick (what, folder) as if chosen from the list (scripts, tests)."""
        self.choice = (what, folder)
        if what == "checkpoint" and folder:
            self.ctx.remember(folder)
        self.fill()
        self.chosen.emit()
