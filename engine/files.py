"""Writing files so that nothing is lost: atomic replacement, clear messages for a full disk, and the
removal of what an interrupted write left behind.

Every output of the engine (checkpoints, agent files, exports, logs) is first written in full to a
hidden temporary sibling, ``.NAME.PID.XXXX.tmp``, then moved over ``NAME`` with ``os.replace``: a crash
leaves either the old or the new file, never half of one. A failed write removes its temporary file and
raises :class:`WriteFailed` (a :class:`UserError`: one line, naming the file and the reason). The PID in
the name tells a leftover of a dead process from a write in progress, so :func:`remove_leftovers` can
clean up at the next start without racing another live writer.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from engine.errors import UserError

# errors that mean "this storage cannot take the write", as opposed to a bug
DISK_ERRORS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)
STALE_SECONDS = 3600  # a temporary file without a process id this old belongs to no write in progress
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


class WriteFailed(UserError):
    """An output could not be written (full disk, read-only or forbidden folder, ...)."""


def reason(e: OSError) -> str:
    """``No space left on device`` rather than ``[Errno 28] No space left on device: '/x/.y.tmp'``."""
    return e.strerror or type(e).__name__


def temp_prefix(dest: Path) -> str:
    return f".{dest.name}.{os.getpid()}."


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ordinary_permissions(path: str | Path, folder: bool = False) -> None:
    """mkstemp / mkdtemp make private files; an output is an ordinary file or folder."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def refuse_special(path: Path, what: str = "") -> None:
    """A device, pipe or socket is never written over: the rename of an atomic write would replace it with a
    regular file (as root, /dev/null itself)."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return  # nothing there (yet)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        raise UserError(f"{what + ' ' if what else ''}{path} is a device, pipe or socket, not a file to write")


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], what: str = "") -> Path:
    """Call ``write(f)`` on a temporary file beside ``path`` and move it over ``path`` when complete."""
    dest = Path(path)
    if dest.is_dir():
        raise UserError(f"{dest} is a folder; give a file name")
    refuse_special(dest)
    if not dest.parent.is_dir():
        raise UserError(f"folder {dest.parent} does not exist")
    remove_leftovers(dest)
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(dest), suffix=".tmp", dir=dest.parent)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        ordinary_permissions(tmp)
        os.replace(tmp, dest)
    except OSError as e:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise WriteFailed(f"could not write {what or dest} ({reason(e)})") from None
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)
    return dest


def atomic_write_bytes(path: str | Path, data: bytes, what: str = "") -> Path:
    return atomic_write(path, lambda f: f.write(data), what)


def atomic_write_text(path: str | Path, text: str, what: str = "") -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")), what)


def write_folder(dest: str | Path, fill: Callable[[Path], None], what: str,
                 errors: tuple[type[BaseException], ...] = ()) -> Path:
    """Write a folder atomically: ``fill(tmp)`` writes every file into a temporary sibling folder, which then
    replaces ``dest`` with one rename (an existing ``dest`` is moved aside first and removed after), so a
    crash leaves the old folder or the new one, never a mix. An OSError (or one of ``errors``) becomes one
    :class:`WriteFailed` line naming ``what``."""
    dest = Path(dest)
    refuse_special(dest)
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(dest), suffix=".tmp", dir=dest.parent))
        fill(tmp)
        ordinary_permissions(tmp, folder=True)
        for f in tmp.iterdir():
            ordinary_permissions(f)
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(dest), suffix=".old", dir=dest.parent))
            os.replace(dest, old / "x")
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
        tmp = None
        fsync_dir(dest.parent)
    except (OSError, *errors) as e:
        why = reason(e) if isinstance(e, OSError) else str(e)[:80]
        raise WriteFailed(f"could not save {what} to {dest} ({why})") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def is_format_folder(folder: str | Path, fmt: str, max_bytes: int = 1 << 20) -> bool:
    """Does ``folder`` hold a config.json whose "format" is ``fmt`` (a folder this engine wrote)?"""
    p = Path(folder) / "config.json"
    try:
        return p.is_file() and p.stat().st_size < max_bytes and \
            json.loads(p.read_text(encoding="utf-8")).get("format") == fmt
    except (OSError, ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return False


def read_folder_config(p: Path, fmt: str, version: int, kind: str, make: str, other: str,
                       max_bytes: int = 1 << 20) -> dict:
    """The config.json of a folder of format ``fmt`` and ``version``, or one UserError: no such folder
    ("no {kind} at p (make one with {make})"), no config.json, too large, not JSON, another format
    (``other``), another version."""
    if not p.is_dir():
        raise UserError(f"no {kind} at {p} (make one with {make})")
    cfg_path = p / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{p} is not a {kind} (it has no config.json)")
    try:
        if cfg_path.stat().st_size > max_bytes:
            raise UserError(f"{cfg_path} is too large to be a {kind}'s config")
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UserError(f"{cfg_path} is corrupt (not valid JSON)") from None
    if not isinstance(config, dict) or config.get("format") != fmt:
        raise UserError(other)
    if config.get("version") != version:
        raise UserError(f"{p} has {kind} version {str(config.get('version'))[:20]}; this build reads {version}")
    return config


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_leftovers(dest: str | Path) -> list[Path]:
    """Remove the temporary files and folders that interrupted writes of ``dest`` left beside it (those
    of processes that are gone, and, from versions that did not name the process, those older than an
    hour); returns what was removed."""
    dest = Path(dest)
    removed: list[Path] = []
    try:
        siblings = list(dest.parent.glob(f".{glob_escape(dest.name)}.*.tmp"))
        siblings += list(dest.parent.glob(f"{glob_escape(dest.name)}.tmp.*"))  # older versions' attention files
    except (OSError, ValueError):
        return removed
    for p in siblings:
        m = _LEFTOVER.fullmatch(p.name)
        if m and m.group("name") == dest.name:
            if _alive(int(m.group("pid"))):
                continue
        else:
            try:
                if time.time() - p.lstat().st_mtime < STALE_SECONDS:
                    continue
            except OSError:
                continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def check_output(dest: str | Path, what: str = "--out", folder: bool = False) -> Path:
    """Before any long work: prove that ``dest`` can be written the way it will be (a temporary sibling
    with its name, then a rename). A run's folder (``folder=True``) gets its parent folders created; a
    file's folder must exist. A path that is empty, has a NUL byte, is too long, or lies in a folder that
    cannot be written is refused here rather than after the work."""
    p = Path(dest)
    if not str(dest).strip():
        raise UserError(f"{what} is empty; give a {'folder' if folder else 'file'} name")
    if "\0" in str(dest):
        raise UserError(f"{what} {str(dest)!r} has a NUL character")
    try:
        if p.is_dir() and not folder:
            raise UserError(f"{what} {p} is a folder; give a file name")
        refuse_special(p, what)
        if p.exists() and not p.is_dir() and folder:
            raise UserError(f"{what} {p} is a file, not a folder")
        if not folder and not p.parent.is_dir():
            raise UserError(f"{what}: folder {p.parent} does not exist")
        check_writable_folder(p.parent, what)
        probe = tempfile.mkdtemp(prefix=temp_prefix(p), suffix=".tmp", dir=p.parent)
        os.rmdir(probe)
    except OSError as e:
        raise WriteFailed(f"{what} {p} cannot be written ({reason(e)})") from None
    return p


def check_writable_folder(folder: str | Path, what: str = "--out") -> Path:
    """Create ``folder`` if needed and prove a file can be written there, before any long work starts."""
    p = Path(folder)
    try:
        if p.exists() and not p.is_dir():
            raise UserError(f"{what} {p} is a file, not a folder")
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".txe-probe.", suffix=".tmp", dir=p)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise WriteFailed(f"{what} {p} cannot be written ({reason(e)})") from None
    return p
