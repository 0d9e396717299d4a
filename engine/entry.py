"""The ``txe`` entry point (also ``python -m engine``): a wrapper whose only top-level imports are ``sys``
and ``signal``, so that a Ctrl-C (or SIGTERM, SIGHUP) at any moment once it runs, even while torch is
still being imported, ends with one line and exit code 128 + the signal's number (130 for Ctrl-C)
instead of a traceback. (The interpreter's own start-up, before this module runs, is out of its reach.)"""

import signal
import sys

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_received: list[int] = []  # signals that arrived before engine.signals took over


def _on_signal(signum: int, frame: object) -> None:
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
