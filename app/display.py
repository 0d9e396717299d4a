"""Can Qt open a window here? Checked before the QApplication exists, so that a fresh machine gets one line
with the install command instead of Qt's "could not load the Qt platform plugin xcb" and an abort.

Qt's X11 plugin (libqxcb) needs system libraries that a minimal Debian or Ubuntu lacks (libxcb-cursor0,
libxcb-icccm4, libxcb-keysyms1, ...). ``ldd`` on the plugin names the missing ones; the table below turns
them into Debian package names.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> Debian/Ubuntu package
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0", "libxcb-randr.so.0": "libxcb-randr0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-render.so.0": "libxcb-render0", "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6", "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
    "libxcb-glx.so.0": "libxcb-glx0", "libXau.so.6": "libxau6", "libXdmcp.so.6": "libxdmcp6",
}
NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` reports as not found, in order, once each."""
    return list(dict.fromkeys(NOT_FOUND.findall(ldd_output)))


def install_command(sonames: list[str]) -> str:
    packages = list(dict.fromkeys(DEBIAN_PACKAGES.get(s, s) for s in sonames))
    return "sudo apt-get install -y " + " ".join(packages)


def xcb_plugin_files() -> list[Path]:
    """Qt's X11 platform plugin and the library it is built on, as shipped in the PySide6 wheel."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    return [p for p in (qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6") if p.exists()]


def check_qt_platform(env: dict[str, str] | None = None) -> str | None:
    """None when Qt can open its window here (or need not: offscreen and other platforms), else one line saying
    what is missing and how to install it."""
    env = dict(os.environ if env is None else env)
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None  # offscreen, wayland, vnc, ...: not the X11 plugin
    if not platform and env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"):
        return None  # Qt picks its Wayland plugin
    if not env.get("DISPLAY"):
        return ("no display to open the window on (DISPLAY is not set); run it in a desktop session, "
                "or set QT_QPA_PLATFORM=offscreen for --screenshot")
    ldd = shutil.which("ldd")
    if ldd is None:
        return None  # cannot tell; Qt will say
    missing: list[str] = []
    for lib in xcb_plugin_files():
        out = subprocess.run([ldd, str(lib)], capture_output=True, text=True, timeout=30).stdout
        missing += [m for m in missing_libraries(out) if m not in missing]
    if not missing:
        return None
    return (f"the Qt window needs system libraries that are missing ({', '.join(missing)}); "
            f"install them with: {install_command(missing)}")


if __name__ == "__main__":  # `python -m app.display`: the check alone
    problem = check_qt_platform()
    print(problem or "ok: Qt can open its window here")
    raise SystemExit(2 if problem else 0)
