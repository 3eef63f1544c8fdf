"""The `broker` command line: one typer app, sub-commands from the modules that own them."""

from __future__ import annotations

import typer

from broker.marketplace.cli import app as marketplace_app

app = typer.Typer(no_args_is_help=True, help="crowd-broker: Ground Truth-style labeling on Mechanical Turk.")
app.add_typer(marketplace_app, name="marketplace", help="The embedded MTurk-compatible marketplace.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
