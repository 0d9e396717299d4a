"""The 3-D scatter's camera, drawn with the same pyqtgraph 2-D plot (no OpenGL: it works offscreen and on
machines without GL): an orthographic turntable camera (yaw about the layout's second axis, pitch about
the screen's horizontal), the view box that turns a left-button drag into a rotation, and the small axis
gizmo that shows which way the layout's axes point; :class:`OrbitMixin` is the scatter's part that
turns them (embedding_plot.EmbeddingScatter).

An orthographic camera is a rotation R: a layout point p lands on the screen at the first two rows of
R (p - centre) and its depth towards the viewer is the third row. Re-projecting a few thousand points is
one (n, 3) x (3, 3) product, cheap enough for every repaint while dragging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

DEFAULT_YAW = -28.0  # degrees: a little from the side and from above, so the depth reads at once
DEFAULT_PITCH = 18.0
DEGREES_PER_PIXEL = 0.45
AXIS_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")  # the layout's axes 1, 2, 3 (x, y, z as usual)
GIZMO_W, GIZMO_H = 156.0, 100.0  # pixels: room for a label on either side
TURN_INTERVAL_MS = 40  # re-project at most 25 times a second while dragging


@dataclass
class OrbitCamera:
    """Yaw and pitch in degrees, and the layout point the camera turns about (drawn at the origin)."""

    yaw: float = DEFAULT_YAW
    pitch: float = DEFAULT_PITCH
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def rotation(self) -> np.ndarray:
        """R (3, 3): its rows are the screen's right, up and towards-the-viewer directions in layout axes
        (yaw = pitch = 0 shows axis 1 to the right, axis 2 up, axis 3 towards the viewer)."""
        y, p = np.radians(self.yaw), np.radians(self.pitch)
        turn = np.array([[np.cos(y), 0.0, np.sin(y)], [0.0, 1.0, 0.0], [-np.sin(y), 0.0, np.cos(y)]])
        tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(p), -np.sin(p)], [0.0, np.sin(p), np.cos(p)]])
        return tilt @ turn

    def view(self, points: np.ndarray) -> np.ndarray:
        """Camera coordinates (n, 3) of layout points (n, 3): x right, y up, z towards the viewer."""
        return (np.asarray(points, np.float64) - self.centre) @ self.rotation().T

    def unview(self, camera_points: np.ndarray) -> np.ndarray:
        """The layout points at the given camera coordinates (the inverse of :meth:`view`)."""
        return np.asarray(camera_points, np.float64) @ self.rotation() + self.centre

    def turn(self, dx: float, dy: float) -> None:
        """A drag of (dx, dy) pixels: right turns the front to the right, down tilts it down; the pitch
        stops at straight above and below (a turntable never goes upside down)."""
        self.yaw = (self.yaw + dx * DEGREES_PER_PIXEL + 180.0) % 360.0 - 180.0
        self.pitch = float(np.clip(self.pitch + dy * DEGREES_PER_PIXEL, -90.0, 90.0))

    def reset(self) -> None:
        self.yaw, self.pitch = DEFAULT_YAW, DEFAULT_PITCH


class OrbitViewBox(pg.ViewBox):
    """A ViewBox whose left-button drag calls ``orbit(dx, dy, finished)`` (pixels) when one is set; the
    wheel still zooms and the middle button still pans."""

    def __init__(self) -> None:
        super().__init__()
        self.orbit: Callable[[float, float, bool], None] | None = None

    def mouseDragEvent(self, ev, axis=None) -> None:  # type: ignore[no-untyped-def]  # noqa: N802
        if self.orbit is not None and axis is None and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            d = ev.screenPos() - ev.lastScreenPos()
            self.orbit(float(d.x()), float(d.y()), bool(ev.isFinish()))
            return
        super().mouseDragEvent(ev, axis)


class AxisGizmo(QGraphicsItem):
    """Three short arrows from a common origin, one per layout axis, turned like the points: the nearer
    an axis points towards the viewer, the stronger it is drawn (and it is drawn last)."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.rotation = np.eye(3)
        self.names = ["1", "2", "3"]
        self.setZValue(30)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_state(self, rotation: np.ndarray, names: list[str]) -> None:
        self.rotation = np.asarray(rotation, np.float64)
        self.names = list(names)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(0.0, 0.0, GIZMO_W, GIZMO_H)

    def paint(self, painter: QPainter, _option, _widget=None) -> None:  # type: ignore[no-untyped-def]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(200, 200, 200), 1))
        painter.setBrush(QColor(255, 255, 255, 215))
        painter.drawRoundedRect(self.boundingRect().adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        centre = QPointF(GIZMO_W / 2, GIZMO_H / 2)
        length = 26.0
        font = QFont("sans", 8)
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        for i in np.argsort(self.rotation[2], kind="stable"):  # the axis pointing away first
            x, y, z = self.rotation[:, i]
            near = (z + 1.0) / 2.0  # 0: straight away from the viewer, 1: straight at the viewer
            colour = QColor(AXIS_COLOURS[i])
            colour.setAlpha(int(90 + 165 * near))
            end = centre + QPointF(x * length, -y * length)
            painter.setPen(QPen(colour, 1.6 + 1.4 * near, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            painter.drawLine(centre, end)
            painter.setBrush(colour)
            painter.drawEllipse(end, 2.0 + 1.5 * near, 2.0 + 1.5 * near)
            text = self.names[i]
            w, h = metrics.horizontalAdvance(text), metrics.height()
            # beyond the arrow's tip, along its direction on the screen (up when it points at the viewer)
            ux, uy = (x, -y) / np.hypot(x, y) if np.hypot(x, y) > 0.05 else (0.0, -1.0)
            reach = 5 + abs(ux) * w / 2 + abs(uy) * h / 2
            spot = end + QPointF(ux * reach, uy * reach)
            # kept inside the box whatever the angle
            left = min(max(spot.x() - w / 2, 3.0), GIZMO_W - w - 3)
            top = min(max(spot.y() - h / 2, 2.0), GIZMO_H - h - 2)
            painter.setPen(colour)
            painter.drawText(QRectF(left, top, w, h), Qt.AlignmentFlag.AlignCenter, text)


class OrbitMixin:
    """Part of EmbeddingScatter (its layout, points and overlays are the scatter's): the camera, the
    gizmo, and the drag that turns them. ``coords`` are the screen positions of ``layout_coords``."""

    def init_orbit(self) -> None:
        self.camera = OrbitCamera()
        self.three = False
        self._radius = 1.0  # the farthest point from the camera's centre (the same at every angle)
        self.gizmo = AxisGizmo(self.plot_item.vb)
        self.gizmo.setVisible(False)
        self.plot_item.vb.sigResized.connect(lambda *_: self._place_gizmo())
        self._pending_turn = np.zeros(2)
        self._turn_timer = QTimer(self)
        self._turn_timer.setSingleShot(True)
        self._turn_timer.setInterval(TURN_INTERVAL_MS)
        self._turn_timer.timeout.connect(self._apply_turn)

    def centre_camera(self, move: bool) -> None:
        """The depth scale for this layout; with ``move`` the camera also turns about its centre."""
        if move:
            self.camera.centre = self.layout_coords.mean(0).astype(np.float64)
        spread = np.linalg.norm(self.layout_coords - self.camera.centre, axis=1)
        self._radius = float(max(spread.max(initial=0.0), 1e-9))

    def _set_mode(self, three: bool) -> None:
        """3-D: no axes or grid (the gizmo shows the orientation), equal scales, left-drag rotates."""
        self.three = three
        vb = self.plot_item.vb
        vb.setAspectLocked(three)
        for side in ("left", "bottom"):
            self.plot_item.showAxis(side, not three)
        self.plot_item.showGrid(x=not three, y=not three, alpha=0.15)
        vb.orbit = self._orbit if three else None
        self.gizmo.setVisible(three)
        self._place_gizmo()

    def _project(self) -> None:
        """Screen positions (and 3-D depths) of the layout through the camera."""
        if not self.three:
            self.coords = self.layout_coords
            self.depth = np.zeros(len(self.layout_coords))
            return
        cam = self.camera.view(self.layout_coords)
        self.coords = cam[:, :2].astype(np.float32)
        self.depth = cam[:, 2] / self._radius
        self.gizmo.set_state(self.camera.rotation(), self.gizmo.names)

    def to_screen(self, points: np.ndarray) -> np.ndarray:
        """Screen positions (n, 2) of layout points (n, 2 or 3)."""
        pts = np.atleast_2d(np.asarray(points, np.float64))
        return (self.camera.view(pts)[:, :2] if pts.shape[1] == 3 else pts).astype(np.float32)

    def set_axis_names(self, names: list[str]) -> None:
        """The gizmo's labels of the three layout axes (3-D; 2-D has the plot's axis titles)."""
        self.gizmo.set_state(self.camera.rotation(), names)

    def _place_gizmo(self) -> None:
        self.gizmo.setPos(6.0, max(self.plot_item.vb.height() - GIZMO_H - 6.0, 0.0))

    def reset_view(self) -> None:
        """3-D: the default angle, turning about the layout's centre, all of it in view."""
        if not self.three:
            self.fit()
            return
        self.camera.reset()
        self.centre_camera(move=True)
        self._pending_turn[:] = 0.0
        self._project()
        self._draw_points()
        self.fit()
        self.refresh_overlays()

    def _orbit(self, dx: float, dy: float, finished: bool) -> None:
        """A drag step from the view box: shown at once, then at most every TURN_INTERVAL_MS."""
        self._pending_turn += (dx, dy)
        if finished:
            self._turn_timer.stop()
            self._apply_turn()
        elif not self._turn_timer.isActive():
            self._apply_turn()
            self._turn_timer.start()  # moves until it fires only add up

    def turn(self, dx: float, dy: float) -> None:
        """Turn the camera as a drag of (dx, dy) pixels would, at once."""
        self._pending_turn += (dx, dy)
        self._apply_turn()

    def _apply_turn(self) -> None:
        dx, dy = self._pending_turn
        self._pending_turn[:] = 0.0
        if not self.three or (dx == 0 and dy == 0):
            return
        vb = self.plot_item.vb
        (x0, x1), (y0, y1) = vb.viewRange()
        # turn about what is in view: the point at the view's centre, at the mean depth of the points shown
        inside = (self.coords[:, 0] >= x0) & (self.coords[:, 0] <= x1) & (self.coords[:, 1] >= y0) & \
            (self.coords[:, 1] <= y1)
        depth = float(self.depth[inside].mean()) * self._radius if inside.any() else 0.0
        mid = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        pivot = self.camera.unview([[mid[0], mid[1], depth]])
        self.camera.turn(dx, dy)
        self._project()
        self._draw_points()
        shift = self.camera.view(pivot)[0, :2] - mid
        if np.abs(shift).max() > 1e-9 * self._radius:
            vb.setRange(xRange=(x0 + shift[0], x1 + shift[0]), yRange=(y0 + shift[1], y1 + shift[1]), padding=0)
        self.refresh_overlays()
