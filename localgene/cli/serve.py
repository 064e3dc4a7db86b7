"""``localgene serve``: the gene job API over HTTP (FastAPI on uvicorn).

The server records and reads jobs; ``localgene worker`` runs them. Callers are known by their
``X-Auth-Token`` from the users file (``localgene users add``). Without a users file the server
runs as the single local user (the login name, administrator of every project) and then only
listens on a loopback address.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from localgene import settings as settings_mod
from localgene.api import users as users_mod
from localgene.errors import InvalidRequest
from localgene.settings import Environment

ENV_HOST = "LOCALGENE_HOST"
ENV_PORT = "LOCALGENE_PORT"
ENV_ALLOWED = "LOCALGENE_ALLOWED_PATHS"
ENV_DATA_ROOTS = "LOCALGENE_DATA_ROOTS"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the gene job API over HTTP (jobs are run by `localgene worker`)",
        description="Serve the gene service's REST API (/v2.0/{project_id}/gene/...) on the local job store; "
        "the interactive docs are at /docs and the OpenAPI document at /openapi.json. Callers send "
        "X-Auth-Token (see `localgene users add`). Without a users file, the server only listens on a "
        "loopback address and takes every request as you (the login name), administrator of every project.",
    )
    env = Environment.read()
    p.add_argument("--host", default=env.host or DEFAULT_HOST,
                   help=f"address to listen on (env {ENV_HOST}; default: %(default)s)")
    p.add_argument("--port", default=env.port or str(DEFAULT_PORT),
                   help=f"port (env {ENV_PORT}; default: %(default)s)")
    p.add_argument("--users", default=None, metavar="FILE",
                   help=f"users file, YAML or .toml (env {users_mod.ENV_USERS}; default: "
                   f"$LOCALGENE_HOME/{users_mod.USERS_FILENAME})")
    p.add_argument("--allow-path", action="append", default=None, metavar="DIR",
                   help="only take local paths inside this folder in job bodies (repeatable; env "
                   f"{ENV_ALLOWED}, separated by ':'); default: any path this account can read")
    p.add_argument("--data-root", action="append", default=None, metavar="[PROJECT=]DIR",
                   help="with a users file: a folder job bodies may name (every project; PROJECT=DIR: "
                   f"that project only); repeatable; env {ENV_DATA_ROOTS}, separated by ':'. With a users "
                   "file and no data root, job bodies can name no local path (403 DLI.0012); see docs/api.md")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=_cmd_serve)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise InvalidRequest(f"must be a port number from 0 to 65535, got {raw!r}", field="--port")
    return int(raw)


def resolve_users(cfg: settings_mod.Settings, given: str | None) -> Path | None:
    """The users file to use, or None for the single local user. A file named by option or
    environment must exist; the default one may be absent."""
    explicit = given or cfg.env.users or None
    path = users_mod.resolve_path(cfg.home, explicit)
    if path.exists():
        return path
    if explicit:
        raise InvalidRequest(f"the users file {path} does not exist; create it with "
                             f"`localgene users add NAME --users {path} --project P`", field="--users")
    return None


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from localgene.api.app import ApiSettings, create_app

    cfg = settings_mod.load().ensure_dirs()
    port = _port(str(args.port))
    users_path = resolve_users(cfg, args.users)
    if users_path is None and not is_loopback(args.host):
        raise InvalidRequest(
            f"there is no users file ({users_mod.default_path(cfg.home)}), so every caller would act as "
            f"you: refusing to listen on {args.host}. Add users with `localgene users add`, or listen on "
            "127.0.0.1",
            field="--host",
        )
    allowed = args.allow_path
    if allowed is None:
        allowed = [p for p in cfg.env.allowed_paths.split(":") if p]
    roots = args.data_root
    if roots is None:
        roots = [p for p in cfg.env.data_roots.split(":") if p]
    if roots and users_path is None:
        raise InvalidRequest("data roots keep the users of a users file apart; without one, restrict "
                             "paths with --allow-path DIR", field="--data-root")
    server_roots = [r for r in roots if "=" not in r]
    project_roots: dict[str, tuple[Path, ...]] = {}
    for spec in (r for r in roots if "=" in r):
        project, _, folder = spec.partition("=")
        project_roots[project] = (*project_roots.get(project, ()), Path(folder))
    settings = ApiSettings(cfg, users_path=users_path, allowed_paths=tuple(Path(p) for p in allowed),
                           data_roots=tuple(Path(p) for p in server_roots), project_roots=project_roots)
    app = create_app(settings)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log = logging.getLogger("localgene.api")
    if users_path is None:
        who = app.state.api.local_user
        log.warning("no users file: every request is user %s (tenant admin of every project); "
                    "loopback only", who.name)
    else:
        n = len(app.state.api.users.users())
        log.info("users file %s: %d user(s)%s", users_path, n, "" if n else " - every request will be refused")
        if not allowed and not roots:
            log.warning("no data root: job bodies can name no local file (only s3a:// objects); "
                        "give the folders users may use with --data-root DIR or --data-root PROJECT=DIR")
    shown = f"[{args.host}]" if ":" in args.host else args.host
    log.info("job store %s; the API's docs at http://%s:%d/docs, the job browser at http://%s:%d/ui/",
             cfg.db_path, shown, port, shown, port)
    sys.stdout.flush()
    uvicorn.run(app, host=args.host.strip("[]"), port=port, log_level=args.log_level, access_log=True,
                server_header=False)
    return 0
