"""Small layout helpers the views share."""

from __future__ import annotations

from PySide6.QtWidgets import QLayout, QVBoxLayout, QWidget


def column(*items: QWidget | QLayout | tuple[QWidget, int]) -> QWidget:
    """A widget stacking ``items`` top to bottom with no margins (for a splitter's pane); an item given as
    ``(widget, stretch)`` takes that share of the spare height."""
    pane = QWidget()
    layout = QVBoxLayout(pane)
    layout.setContentsMargins(0, 0, 0, 0)
    for item in items:
        if isinstance(item, tuple):
            layout.addWidget(*item)
        elif isinstance(item, QLayout):
            layout.addLayout(item)
        else:
            layout.addWidget(item)
    return pane
