"""``localgene users add/list/remove``: who may call ``localgene serve``.

``add`` prints the new user's token once on standard output (keep it: only its SHA-256 is
stored). The file is ``$LOCALGENE_HOME/users.yaml`` unless ``--users`` (env
``LOCALGENE_USERS``) names another (``.toml`` for TOML). A running server sees changes at its
next request.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from localgene import settings as settings_mod
from localgene.api import users as users_mod


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="manage the users (and their tokens) of `localgene serve`",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    verbs = p.add_subparsers(dest="users_command", metavar="ACTION")
    verbs.required = True

    a = verbs.add_parser("add", help="add a user; prints its token once")
    a.add_argument("name", help="user name (owner of the user's jobs)")
    a.add_argument("--tenant", default="local", help="the user's tenant (default: %(default)s)")
    a.add_argument("--role", choices=users_mod.ROLES, default="user",
                   help="admin: the tenant's administrator (sees every user's jobs and statistics of "
                   "its projects); user: sees only their own (default: %(default)s)")
    a.add_argument("--project", action="append", required=True, metavar="PROJECT_ID",
                   help="a project the user may use (repeatable; '*' for any project)")
    _file_arg(a)
    a.set_defaults(func=_cmd_add)

    ls = verbs.add_parser("list", help="list the users (never their tokens)")
    ls.add_argument("--json", action="store_true", help="JSON instead of a table")
    _file_arg(ls)
    ls.set_defaults(func=_cmd_list)

    r = verbs.add_parser("remove", help="remove a user: their token stops working at once")
    r.add_argument("name")
    _file_arg(r)
    r.set_defaults(func=_cmd_remove)


def _file_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--users", default=None, metavar="FILE",
                   help=f"users file (env {users_mod.ENV_USERS}; default: $LOCALGENE_HOME/{users_mod.USERS_FILENAME})")


def _path(args: argparse.Namespace):
    cfg = settings_mod.load()
    return users_mod.resolve_path(cfg.home, args.users)


def _cmd_add(args: argparse.Namespace) -> int:
    path = _path(args)
    user, token = users_mod.add_user(path, args.name, tenant=args.tenant, role=args.role, projects=args.project)
    print(f"added user {user.name} (tenant {user.tenant}, {user.role}, projects {', '.join(user.projects)}) "
          f"to {path}.\nIts token follows; it is shown only this once (send it as X-Auth-Token):",
          file=sys.stderr)
    print(token)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    path = _path(args)
    users = users_mod.read_users(path)
    if args.json:
        rows = [{"user_name": u.name, "tenant": u.tenant, "role": u.role, "projects": list(u.projects),
                 "created": u.created} for u in users.values()]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{'USER':20}  {'TENANT':16}  {'ROLE':5}  {'CREATED':19}  PROJECTS")
    for u in users.values():
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(u.created / 1000)) if u.created else "-"
        print(f"{u.name:20}  {u.tenant:16}  {u.role:5}  {created:19}  {', '.join(u.projects)}")
    print(f"({len(users)} user{'s' if len(users) != 1 else ''} in {path})")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    path = _path(args)
    user = users_mod.remove_user(path, args.name)
    print(f"removed user {user.name} from {path}", file=sys.stderr)
    return 0
