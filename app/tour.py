"""Help > Tour: a walkthrough of the views, one page each (what it shows, what to try first).

The window's tab follows the page, so the view is in sight behind the tour. The tour is not modal and is shown
at start only on the first run (or while "show at start" stays ticked); never offscreen or for a screenshot,
so tests and captures never get it (:func:`tour_at_start`).
"""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QCheckBox, QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.tour_pages import PAGES
from app.widgets.names import named

if TYPE_CHECKING:
    from app.window import MainWindow

SHOW_AT_START = "tour/showAtStart"  # unset: the first run


def tour_at_start(settings: QSettings, choice: bool | None = None, platform: str | None = None) -> bool:
    """Whether the tour opens with the window: ``choice`` is --tour (True) / --no-tour (False); else on the
    first run or when the user asked for it, never on the offscreen platform (tests, screenshots)."""
    if choice is not None:
        return choice
    if (platform if platform is not None else os.environ.get("QT_QPA_PLATFORM", "")) == "offscreen":
        return False
    value = settings.value(SHOW_AT_START)
    return value is None or str(value).lower() in ("true", "1")


class TourDialog(QDialog):
    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent if parent is not None else window)
        self.setObjectName("tour")
        self.setWindowTitle("Tour of Transformer Explorer")
        self.window_ = window
        self.keys = [window.tabs.widget(i).key for i in range(window.tabs.count())]  # type: ignore[attr-defined]
        self.titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        self.page = 0

        self.counter = named(QLabel(), "tour.counter", "Page number")
        self.heading = named(QLabel(), "tour.title", "The view's name")
        self.heading.setStyleSheet("font-size: 16pt; font-weight: bold")
        self.body = named(QLabel(), "tour.body", "What the view shows and what to try first")
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.body.setWordWrap(True)
        self.body.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.body.setMinimumHeight(130)
        self.at_start = named(QCheckBox("Show this tour at start"), "tour.show-at-start", "Show the tour at start")
        value = window.settings.value(SHOW_AT_START)
        self.at_start.setChecked(value is not None and str(value).lower() in ("true", "1"))
        self.at_start.toggled.connect(self._remember)
        self.back_btn = named(QPushButton("Back"), "tour.back", "Previous page")
        self.next_btn = named(QPushButton("Next"), "tour.next", "Next page")
        self.close_btn = named(QPushButton("Close"), "tour.close", "Close the tour")
        self.back_btn.clicked.connect(lambda: self.go(self.page - 1))
        self.next_btn.clicked.connect(lambda: self.go(self.page + 1))
        self.close_btn.clicked.connect(self.close)

        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.counter)
        row = QHBoxLayout()
        row.addWidget(self.at_start)
        row.addStretch(1)
        for b in (self.back_btn, self.next_btn, self.close_btn):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.body, 1)
        layout.addLayout(row)
        self.resize(560, 260)
        self.go(0)

    def go(self, page: int) -> None:
        """Show page ``page`` (clamped) and bring its view to the front of the window."""
        self.page = max(0, min(page, len(self.keys) - 1))
        key = self.keys[self.page]
        shows, first = PAGES.get(key, ("", ""))
        self.heading.setText(self.titles[self.page])
        self.counter.setText(f"{self.page + 1} / {len(self.keys)}")
        self.body.setText(f"<p>{html.escape(shows)}</p><p><b>Try first:</b> {html.escape(first)}</p>")
        self.back_btn.setEnabled(self.page > 0)
        self.next_btn.setEnabled(self.page < len(self.keys) - 1)
        (self.next_btn if self.next_btn.isEnabled() else self.close_btn).setDefault(True)
        self.window_.tabs.setCurrentIndex(self.page)

    def _remember(self, checked: bool) -> None:
        self.window_.settings.setValue(SHOW_AT_START, checked)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._remember(self.at_start.isChecked())  # closing the first-run tour is the answer: not again
        super().closeEvent(event)

    def done(self, result: int) -> None:  # Escape
        self._remember(self.at_start.isChecked())
        super().done(result)
