"""The strip at the top of every view: what its picture is of, whether that is out of date, what the view is
busy with (with Cancel where it can take a while), and its last error or note."""

from __future__ import annotations

import html
import time
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.widgets.names import named

BUSY_AFTER_MS = 300  # actions quicker than this never flash a busy indicator
INFO_MS = 12_000  # a note fades after this; an error stays until the view's next success


class ViewHeader(QWidget):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.source = named(QLabel(), f"{key}.source", "What the picture is of")
        self.source.setTextFormat(Qt.TextFormat.RichText)
        self.source.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        self.stale_badge = named(QLabel(), f"{key}.stale", "Out of date")
        self.stale_badge.setStyleSheet("background:#fff1c1; color:#7a5b00; border-radius:3px; padding:1px 6px")
        self.stale_badge.hide()
        self.busy_bar = named(QProgressBar(), f"{key}.busy", "Busy")
        self.busy_bar.setRange(0, 0)  # an indeterminate bar
        self.busy_bar.setFixedWidth(90)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setTextVisible(False)
        self.busy_label = named(QLabel(), f"{key}.busy-text", "What the view is busy with")
        self.busy_label.setStyleSheet("color:#445")
        self.cancel_btn = named(QPushButton("Cancel"), f"{key}.cancel", "Cancel")
        self.message = named(QLabel(), f"{key}.message", "Message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.source, 1)
        row.addWidget(self.stale_badge)
        row.addWidget(self.busy_label)
        row.addWidget(self.busy_bar)
        row.addWidget(self.cancel_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 2)
        lay.setSpacing(2)
        lay.addLayout(row)
        lay.addWidget(self.message)
        self._busy: dict[int, tuple[str, float, Any]] = {}  # id of the work -> (what, since, cancel)
        self._tick = QTimer(self)
        self._tick.setInterval(200)
        self._tick.timeout.connect(self._show_busy)
        self._info_timer = QTimer(self)
        self._info_timer.setSingleShot(True)
        self._info_timer.timeout.connect(self._clear_info)
        self.error_text = ""
        self.cancel_btn.clicked.connect(self._cancel)
        self._show_busy()

    # --- the source ------------------------------------------------------------------------------

    def set_source(self, what: str, detail: str = "", tip: str = "") -> None:
        """``what`` in bold (the model and step), then ``detail`` (the input): plain text, escaped here."""
        text = f"<b>{html.escape(what)}</b>"
        if detail:
            text += f" <span style='color:#445'>\u00b7 {html.escape(detail)}</span>"
        self.source.setText(text)
        self.source.setToolTip(tip or f"{what}\n{detail}".strip())

    def source_text(self) -> str:
        """The source as plain text (tests, the window title)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.source.text())
        return doc.toPlainText()

    def set_stale(self, reason: str | None) -> None:
        self.stale_badge.setText(f"out of date: {reason}" if reason else "")
        self.stale_badge.setToolTip("The picture is of what was shown before; it is recomputed when you look at "
                                    "the view." if reason else "")
        self.stale_badge.setVisible(bool(reason))

    @property
    def stale(self) -> bool:
        return bool(self.stale_badge.text())

    # --- busy ----------------------------------------------------------------------------------------

    def busy_started(self, work: object, what: str, cancel: Any = None) -> None:
        self._busy[id(work)] = (what, time.monotonic(), cancel)
        if not self._tick.isActive():
            self._tick.start()
        QTimer.singleShot(BUSY_AFTER_MS + 10, self._show_busy)

    def busy_ended(self, work: object) -> None:
        self._busy.pop(id(work), None)
        self._show_busy()

    @property
    def busy(self) -> bool:
        return bool(self._busy)

    def _show_busy(self) -> None:
        now = time.monotonic()
        shown = [(what, since, cancel) for what, since, cancel in self._busy.values()
                 if now - since >= BUSY_AFTER_MS / 1000]
        if not self._busy:
            self._tick.stop()
        if not shown:
            for w in (self.busy_bar, self.busy_label, self.cancel_btn):
                w.hide()
            return
        what, since, cancel = min(shown, key=lambda b: b[1])  # the oldest: what the user waits for
        more = f" (+{len(shown) - 1})" if len(shown) > 1 else ""
        self.busy_label.setText(f"{what}\u2026 {now - since:.1f} s{more}")
        self.busy_bar.show()
        self.busy_label.show()
        self.cancel_btn.setVisible(any(c is not None for _, _, c in shown))

    def _cancel(self) -> None:
        for _what, _since, cancel in list(self._busy.values()):
            if cancel is not None:
                cancel()

    # --- messages ------------------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self.error_text = text
        self._info_timer.stop()
        self.message.setStyleSheet("color:#b00020; font-weight:bold")
        self.message.setText(text)
        self.message.setToolTip(text)
        self.message.show()

    def show_info(self, text: str) -> None:
        self.error_text = ""
        self.message.setStyleSheet("color:#2d5a27")
        self.message.setText(text)
        self.message.setToolTip(text)
        self.message.show()
        self._info_timer.start(INFO_MS)

    def clear_error(self) -> None:
        if self.error_text:
            self.error_text = ""
            self.message.clear()
            self.message.hide()

    def _clear_info(self) -> None:
        if not self.error_text:
            self.message.clear()
            self.message.hide()
