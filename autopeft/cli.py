"""The `autopeft` command. Sub-commands live in autopeft/commands/ and import torch lazily,
so that `autopeft --help` stays instant."""

from __future__ import annotations

import sys

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

# Other command groups register themselves here, one line each.
for _module in ("train", "tasks"):
    try:
        _mod = __import__(f"autopeft.commands.{_module}", fromlist=["register"])
    except ModuleNotFoundError:
        continue
    _mod.register(app)


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
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        import click

        if isinstance(exc, click.exceptions.ClickException):
            print(f"error: {exc.format_message()}", file=sys.stderr)
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise
