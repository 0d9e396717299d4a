"""Saving what a view shows: PNG (a grab of the widget) and SVG (the widget painted into QSvgGenerator:
text and lines as vectors, heatmaps as embedded images)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from engine.errors import UserError


def save_png(widget: QWidget, path: str | Path) -> None:
    if not widget.grab().save(str(path)):
        raise UserError(f"could not write {path}")


def save_svg(widget: QWidget, path: str | Path, title: str = "Transformer Explorer") -> None:
    gen = QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(widget.size())
    gen.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    gen.setTitle(title)
    painter = QPainter(gen)
    try:
        # QWidget.render, not QGraphicsView.render (which takes other arguments and draws only the scene)
        QWidget.render(widget, painter, QPoint(0, 0))
    finally:
        painter.end()
    if not Path(path).is_file():
        raise UserError(f"could not write {path}")
