"""The command group, its shared options and the one place where errors become messages.

Every :class:`~setibl.errors.SetiblError` raised below a command ends as one line on stderr
(``Error: <file or key>: <what is wrong>``) and exit code 1; config errors are usage errors
(exit code 2). No command catches errors itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import click

from setibl import __version__
from setibl.cli.logs import quiet_tensorflow
from setibl.config import Config, load_config
from setibl.errors import ConfigError, SetiblError


class SetiblGroup(click.Group):
    """A click group that turns setibl's errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as err:
            raise click.UsageError(str(err), ctx) from None
        except SetiblError as err:
            raise click.ClickException(str(err)) from None


def config_options(function: Callable) -> Callable:
    """``--config FILE`` and repeatable ``--set section.key=value``."""
    function = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="SECTION.KEY=VALUE",
        help="Override one config value (repeatable).",
    )(function)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML config (default: the reference recipe).",
    )(function)


def load(config_path: str | None, overrides: tuple[str, ...] | list[str]) -> Config:
    """The config of a command: defaults, then ``config_path``, then ``overrides``."""
    return load_config(config_path, overrides)


def echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


@click.group(cls=SetiblGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="setibl")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also show TensorFlow's own log lines and warnings (or set SETIBL_LOG=1).",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """setibl: find narrow-band, drifting, ON-only signals in Breakthrough Listen cadences."""
    quiet_allowed = isinstance(ctx.obj, dict) and ctx.obj.get("console", False)
    if quiet_allowed and not verbose and not os.environ.get("SETIBL_LOG"):
        quiet_tensorflow()
