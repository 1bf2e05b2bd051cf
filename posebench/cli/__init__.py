"""The `posebench` command: a click group whose subcommands live in this package, one module per group.

Subcommands are imported only when invoked, so `posebench --help` stays fast (no torch import).
"""
from __future__ import annotations

import importlib

import click

from posebench.errors import PosebenchError

# name -> "module:attribute" of a click command; each module owns its command.
COMMANDS: dict[str, str] = {
    "evaluate": "posebench.cli.evaluate:evaluate",
    "protocols": "posebench.cli.evaluate:protocols",
    "info": "posebench.cli.info:info",
    "sample": "posebench.cli.sample:sample",
    "prepare": "posebench.cli.prepare:prepare",
    "leaderboard": "posebench.cli.report:leaderboard",
    "report": "posebench.cli.report:report",
    "compare": "posebench.cli.report:compare",
    "demo": "posebench.cli.demo:demo",
    "convert": "posebench.cli.tables:convert",
    "table": "posebench.cli.tables:table",
    "site": "posebench.cli.tables:site",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module on first use (subclasses set ``command_map``)."""

    command_map: dict[str, str] = COMMANDS

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.command_map)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = self.command_map.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:  # e.g. an optional dependency missing
            reason = f"command {ctx.command_path} {name} is unavailable: {e}"

            @click.command(name=name, help=f"(unavailable: {e})")
            def _missing() -> None:
                raise click.ClickException(reason)

            return _missing

    def invoke(self, ctx: click.Context) -> object:
        """Run the subcommand; the one error handler: a PosebenchError becomes one line (exit 1), no traceback."""
        try:
            return super().invoke(ctx)
        except PosebenchError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="posebench")
def main() -> None:
    """posebench: 3D human pose benchmarking with the official protocols.

    \b
    Typical use:
      posebench demo --out demo-out                  # everything on look-alike data, < 1 min
      posebench prepare h36m --src RAW --out data    # official release -> prepared file
      posebench evaluate --protocol h36m --predictions preds.h5
      posebench leaderboard --format md
      posebench table --protocol h36m-lifting --by action   # the paper's per-action table
      posebench site --out site/                     # static HTML site of every run (opens from disk)
    """


if __name__ == "__main__":
    main()
