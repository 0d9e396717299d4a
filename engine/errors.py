"""The one exception type that means "the user gave us something we cannot use"."""


class UserError(Exception):
    """Bad input from the user (file, checkpoint, text, option).

    Its message is one plain sentence fit to show as is: the CLI prints it and exits 2,
    the GUI shows it in the window.
    """
