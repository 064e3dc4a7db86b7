"""``python -m localgene.run.snakemake_main ARGS``: Snakemake's command line with localgene's logger plugin.

Snakemake discovers logger plugins only as top-level modules named
``snakemake_logger_plugin_<name>`` (``pkgutil.iter_modules``). localgene adds no top-level
module: this entry registers :mod:`localgene.run.snakemake_events` with Snakemake's logger plugin
registry under the name ``localgene``, then runs ``snakemake.cli.main`` with the arguments
unchanged, so ``--logger localgene`` (and ``--logger-localgene-path FILE``) work as for an
installed plugin. Everything else is plain Snakemake (same options, same output, same exit code).
"""

from __future__ import annotations

import sys


def register() -> None:
    """Make ``--logger localgene`` known to Snakemake in this process (idempotent)."""
    from snakemake_interface_logger_plugins.common import logger_plugin_module_prefix
    from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

    from localgene.run import snakemake_events

    LoggerPluginRegistry().register_plugin(logger_plugin_module_prefix + snakemake_events.NAME, snakemake_events)


def main(argv: list[str] | None = None) -> None:
    register()
    from snakemake.cli import main as snakemake_main

    snakemake_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
