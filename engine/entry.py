"""The ``txe`` entry point (also ``python -m engine``): a wrapper whose only top-level imports are ``sys``
and ``signal``, so that a Ctrl-C (or SIGTERM, SIGHUP) at any moment once it runs, even while torch is
still being imported, ends with one line and exit code 128 + the signal's number (130 for Ctrl-C)
instead of a traceback. (The interpreter's own start-up, before this module runs, is out of its reach.)"""

import signal
import sys

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_received: list[int] = []  # signals that arrived before engine.signals took over
RETRY_S = 0.05  # a signal that arrives during an import is raised again this much later


def importing(frame: object) -> bool:
    """True while ``frame`` (the one a signal interrupted) runs under an import. A module's import may call
    into C++ (torch's extensions) that runs Python and, from there, the signal handler: an exception
    raised then crosses C++ that cannot pass it on, and the process aborts ("terminate called after
    throwing an instance of 'pybind11::error_already_set'") instead of ending with one line."""
    while frame is not None:
        if getattr(getattr(frame, "f_code", None), "co_filename", "").startswith("<frozen importlib"):
            return True
        frame = getattr(frame, "f_back", None)
    return False


def deliver_later(signum: int) -> None:
    """Send ``signum`` to this process again in RETRY_S: the handler then runs after the import, or defers
    again while another one runs."""
    import os
    import threading

    timer = threading.Timer(RETRY_S, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def _on_signal(signum: int, frame: object) -> None:
    if importing(frame):
        deliver_later(signum)
        return
    _received.append(signum)
    raise KeyboardInterrupt


def _set_handlers(handler: object) -> None:
    for s in SIGNALS:
        try:
            signal.signal(s, handler)  # type: ignore[arg-type]
        except (ValueError, OSError):  # not the main thread
            pass


def _signals_received() -> list[int]:
    engine_signals = sys.modules.get("engine.signals")
    return _received + list(getattr(engine_signals, "received", []))


def main(argv: list[str] | None = None) -> int:
    _set_handlers(_on_signal)
    try:
        from engine.signals import install_interrupt_handlers

        install_interrupt_handlers()
        from engine.cli import main as cli_main

        code = cli_main(argv)  # it reports signals itself, once its imports are done
    except SystemExit:
        raise
    except BaseException as e:
        # a signal during an import may surface as another error (numpy turns it into an ImportError)
        received = _signals_received()
        if not (received or isinstance(e, KeyboardInterrupt)):
            raise
        _set_handlers(signal.SIG_IGN)
        sys.stderr.write("txe: interrupted\n")
        return 128 + (received[0] if received else signal.SIGINT)
    _set_handlers(signal.SIG_IGN)  # what is left is interpreter shutdown: a late signal must not print there
    try:
        sys.stdout.flush()
    except OSError:  # a closed pipe
        pass
    return code


def run() -> None:
    """``python -m engine``: exit with :func:`main`'s code."""
    try:
        code = main()
    except KeyboardInterrupt:  # a signal in the instant before main() could catch it
        _set_handlers(signal.SIG_IGN)
        sys.stderr.write("txe: interrupted\n")
        code = 128 + (_received[0] if _received else signal.SIGINT)
    sys.exit(code)
