"""The ``localgene`` command line: thin argument parsing over plain library functions.

Each sub-command lives in its own module under :mod:`localgene.cli` with a
``register(subparsers)`` function that adds its parser and sets ``func``; the logic it calls
lives in the library modules (the ``do_*`` style of CNVkit's ``commands.py``). Errors from the
:mod:`localgene.errors` tree are printed as one line and exit non-zero; no traceback reaches
a user.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from localgene import __version__
from localgene.errors import LocalgeneError

# Sub-command modules, in the order --help lists them.
COMMAND_MODULES = [
    "localgene.cli.run",
    "localgene.cli.jobs",
    "localgene.cli.worker",
    "localgene.cli.check",
    "localgene.cli.demo_data",
    "localgene.cli.serve",
    "localgene.cli.users",
    "localgene.cli.references",
]

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localgene",
        description="Run gene-service CNVkit and pipeline jobs locally with Snakemake and the real tools.",
    )
    parser.add_argument("--version", action="version", version=f"localgene {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    # `localgene run`: the CNVkit step server starts importing CNVkit (~3 s) before this process
    # imports the rest of localgene and checks the job; `run` keeps it or ends it
    # (localgene.cnvkit.server_early).
    early = _early_server() if given[:1] == ["run"] and "--help" not in given and "-h" not in given else None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.early_server = early
        try:
            return int(args.func(args) or 0)
        except LocalgeneError as exc:
            print(f"localgene {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT if getattr(exc, "http_status", 500) < 500 else EXIT_FAILED
        except KeyboardInterrupt:
            print(f"localgene {args.command}: interrupted", file=sys.stderr)
            return 130
    finally:
        if early is not None:
            early.discard()  # no-op once the job's workflow had it and stopped it


def _early_server():
    from localgene.cnvkit import server_early

    return server_early.start()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
