"""The ``txe`` entry point (also ``python -m engine``): a wrapper whose only top-level import is ``sys``
and ``signal``, so that a Ctrl-C at any moment, even while torch is still being imported, ends with one
line and exit code 130 instead of a traceback."""

import signal
import sys


def main(argv: list[str] | None = None) -> int:
    code = 130
    try:
        from engine.signals import install_interrupt_handlers

        install_interrupt_handlers()
        from engine.cli import main as cli_main

        code = cli_main(argv)
    except KeyboardInterrupt as e:
        _quiet()
        code = getattr(e, "exit_code", 130)
        sys.stderr.write("txe: interrupted\n")
    _quiet()  # what is left is interpreter shutdown: a late signal must not print a traceback there
    return code


def _quiet() -> None:
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        s = getattr(signal, name, None)
        if s is not None:
            try:
                signal.signal(s, signal.SIG_IGN)
            except (ValueError, OSError):
                pass


def run() -> None:
    """``python -m engine``: exit with :func:`main`'s code."""
    try:
        code = main()
    except KeyboardInterrupt:  # a signal in the instant before main() could catch it
        code = 130
    sys.exit(code)
