"""The exception types that mean "the user gave us something we cannot use"."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (file, checkpoint, text, option).

    Its message is one plain sentence fit to show as is: the CLI prints it and exits 2,
    the GUI shows it in the window.
    """


class RunExists(UserError):
    """The output folder already holds a run, and neither resuming nor overwriting it was asked for.

    ``path`` is the folder and ``step`` the step its checkpoint reached (None when unknown), so the
    GUI can ask "continue or replace?" and then pass ``resume=True`` or ``overwrite=True``.
    """

    def __init__(self, path: str, step: int | None = None) -> None:
        at = f" (step {step})" if step is not None else ""
        super().__init__(f"{path} already holds a training run{at}; use --resume to continue it or "
                         "--overwrite to replace it")
        self.path = path
        self.step = step
