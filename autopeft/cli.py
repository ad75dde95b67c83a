"""The `autopeft` command. Sub-commands live in autopeft/commands/ and import torch lazily,
so that `autopeft --help` stays instant."""

from __future__ import annotations

import sys
from importlib import import_module
from importlib.util import find_spec

import typer

from autopeft.commands import space as space_cmd
from autopeft.errors import UserError

app = typer.Typer(
    name="autopeft",
    help="Search hybrid PEFT configurations for a backbone and a task; report and export the Pareto front.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(space_cmd.app, name="space")

# Other command groups register themselves: each module has `register(app)`.
for _module in ("train", "tasks", "export", "report", "search"):
    if find_spec(f"autopeft.commands.{_module}") is not None:
        import_module(f"autopeft.commands.{_module}").register(app)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    try:
        app(standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        # usage errors from typer's (vendored) click arrive here with standalone_mode=False
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            print(f"error: {exc.format_message()}", file=sys.stderr)
            sys.exit(2)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        raise
