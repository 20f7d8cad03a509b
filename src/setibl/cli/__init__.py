"""Command line: each command parses its arguments, loads the config and calls a job."""

from __future__ import annotations

import sys

import click

from setibl.cli import classical, data, learned, measure, observations  # noqa: F401  (they register commands)
from setibl.cli.base import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Console entry point."""
    try:
        cli(standalone_mode=True, obj={"console": True})  # the terminal may be quietened
    except KeyboardInterrupt:  # pragma: no cover - interactive
        click.echo("interrupted", err=True)
        sys.exit(130)
