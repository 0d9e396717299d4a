"""Small controls the Arena pages share: a game chooser and an agent chooser (names or saved agents)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from app.widgets.names import named
from engine.rl.game import GAME_NAMES, game_info
from engine.rl.registry import AGENT_HELP, agent_names

SAVED_AGENTS: dict[str, list[str]] = {g: [] for g in GAME_NAMES}  # agents trained in this session, per game


class GameCombo(QComboBox):
    def __init__(self) -> None:
        super().__init__()
        for g in GAME_NAMES:
            self.addItem(game_info(g).title, g)

    def game(self) -> str:
        return str(self.currentData())

    def set_game(self, game: str) -> None:
        self.setCurrentIndex(self.findData(game))


class AgentChooser(QWidget):
    """An editable list of agent names for a game (type mcts:500, say) plus Browse... for a saved agent."""

    changed = Signal(str)  # the agent spec, after a pick or after editing

    def __init__(self, object_name: str, accessible: str, default: str = "default") -> None:
        super().__init__()
        self.combo = named(QComboBox(), object_name, accessible)
        self.combo.setEditable(True)
        self.combo.setMinimumContentsLength(14)
        self.combo.setToolTip(f"Agent: {AGENT_HELP}")
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.browse = named(QPushButton("Browse..."), f"{object_name}-browse", f"{accessible}: open a saved agent")
        self.browse.setToolTip("Open a saved agent (agent.json / agent.safetensors, or its training folder)")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.browse)
        self.default = default
        self.game = ""
        self.combo.activated.connect(lambda _i: self.changed.emit(self.spec()))
        self.combo.lineEdit().editingFinished.connect(self._edited)
        self.browse.clicked.connect(self._browse)
        self._last = ""

    def set_game(self, game: str) -> None:
        self.game = game
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(list(agent_names(game)) + SAVED_AGENTS[game])
        self.combo.setCurrentText(self.default)
        self.combo.blockSignals(False)
        self._last = self.spec()

    def spec(self) -> str:
        return self.combo.currentText().strip()

    def set_spec(self, spec: str) -> None:
        if self.combo.findText(spec) < 0:
            self.combo.addItem(spec)
        self.combo.setCurrentText(spec)
        self._last = spec
        self.changed.emit(spec)

    def _edited(self) -> None:
        if self.spec() != self._last:
            self._last = self.spec()
            self.changed.emit(self._last)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a saved agent", "runs",
                                              "Agents (*.json *.safetensors);;All files (*)")
        if path:
            self.set_spec(path)


def agent_label(spec: str, limit: int = 40) -> str:
    """An agent as the user reads it in tight places: a saved agent by its folder and file, not its whole path."""
    p = Path(spec)
    text = f"{p.parent.name}/{p.name}" if (p.is_absolute() or len(p.parts) > 2) and p.suffix else spec
    return text if len(text) <= limit else "\u2026" + text[-(limit - 1):]


def remember_saved_agent(game: str, path: str) -> None:
    if path not in SAVED_AGENTS[game]:
        SAVED_AGENTS[game].append(path)
