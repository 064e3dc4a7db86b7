"""Who is asking, for the command line: the project and the user (owner) of jobs.

Without a server, the CLI works on the local job store directly: ``--project`` (env
``LOCALGENE_PROJECT``, default ``local``) scopes every command, and ``--owner`` (env
``LOCALGENE_USER``, default the login name) owns the jobs it submits. Listings and statistics
show every user's jobs of the project, as a tenant administrator sees them.
"""

from __future__ import annotations

import argparse
import getpass

from localgene.settings import Environment

DEFAULT_PROJECT = "local"


def add_identity(p: argparse.ArgumentParser) -> None:
    env = Environment.read()
    p.add_argument("--project", default=env.project or DEFAULT_PROJECT,
                   help="project id (env LOCALGENE_PROJECT; default: %(default)s)")
    p.add_argument("--owner", default=env.user or _login(),
                   help="user name that owns submitted jobs (env LOCALGENE_USER; default: your login)")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"
