"""`broker marketplace ...`: serve the embedded marketplace, run the simulated crowd."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
