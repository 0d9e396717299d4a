import sys
import types

import pytest


@pytest.fixture
def txe(capsys):
    """Run ``txe ARGS`` in-process; returns (exit code, stdout, stderr)."""
    try:
        import engine.commands  # noqa: F401
    except ModuleNotFoundError:  # the lead's command module is not on this branch: stand in for it
        stub = types.ModuleType("engine.commands")
        stub.register = lambda sub: None
        sys.modules["engine.commands"] = stub
    from engine.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
