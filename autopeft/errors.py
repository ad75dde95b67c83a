"""User-facing errors: one clear line, exit status 2 from the CLI."""


class UserError(Exception):
    """Bad input from the user (space file, model, task, budget, ...).

    The CLI prints `error: <message>` on one line and exits with status 2; the message names
    the problem and what would fix it.
    """
