"""Who may call the API: the users file, its tokens, and the caller of a request.

The users file (YAML, or TOML when its name ends with ``.toml``; default
``$LOCALGENE_HOME/users.yaml``, or ``--users FILE`` / env ``LOCALGENE_USERS``) maps each user
name to a tenant, a role and the projects the user may use, and keeps only the **SHA-256 of the
user's token**::

    # localgene users: edit with `localgene users add/list/remove`
    users:
      alice:
        tenant: acme
        role: admin            # admin = the tenant's administrator; user = an ordinary user
        projects: [proj-a, proj-b]   # or ["*"]: any project
        token_sha256: 9f86d0…
        created: 1700000000000

Tokens are 256 random bits (``lg_`` + 43 URL-safe characters) made by :func:`new_token`, shown
once by ``localgene users add`` and never stored. A plain SHA-256 is the right hash for them:
nobody can guess such a token, so a slow salted KDF would add nothing but latency to every
request; the hash only keeps a leaked users file from being a list of valid tokens.

Rules (checked on every load, so a hand-edited file is checked too):

* user names: letters, digits, ``.``, ``_``, ``@``, ``-`` (1–64, starting with a letter or digit);
  tenants and project ids: letters, digits, ``.``, ``_``, ``-`` (1–128);
* a project belongs to one tenant: two tenants may not list the same project;
* ``*`` (any project) stands alone in a user's list.

:class:`UsersFile` re-reads the file when it changes on disk, so users added or removed while
the server runs take effect at the next request.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
import tomllib
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from localgene import fileio
from localgene.errors import AuthenticationError, InvalidRequest
from localgene.settings import Environment

ENV_USERS = "LOCALGENE_USERS"
USERS_FILENAME = "users.yaml"
ROLES = ("admin", "user")
ANY_PROJECT = "*"
TOKEN_PREFIX = "lg_"

USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

Role = Literal["admin", "user"]


def new_token() -> str:
    """A fresh random token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def default_path(home: Path) -> Path:
    return home / USERS_FILENAME


def resolve_path(home: Path, given: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Path:
    """``given`` (an option), else env ``LOCALGENE_USERS``, else ``$LOCALGENE_HOME/users.yaml``."""
    raw = given or Environment.read(env).users or None
    return Path(os.path.expanduser(raw)).absolute() if raw else default_path(home)


@dataclass(frozen=True)
class User:
    """One user of the users file (the token only as its hash)."""

    name: str
    tenant: str
    role: Role
    projects: tuple[str, ...]
    token_sha256: str = ""
    created: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_use(self, project_id: str) -> bool:
        return ANY_PROJECT in self.projects or project_id in self.projects

    def as_entry(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "role": self.role,
            "projects": list(self.projects),
            "token_sha256": self.token_sha256,
            "created": self.created,
        }


@dataclass(frozen=True)
class Caller:
    """Who sends a request. ``owner_filter`` is what the store's queries get: ``None`` (every
    user of the project) for a tenant administrator, the caller's own name otherwise."""

    name: str
    tenant: str
    role: Role
    projects: tuple[str, ...]
    single_user: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def owner_filter(self) -> str | None:
        return None if self.is_admin else self.name

    def may_use(self, project_id: str) -> bool:
        return ANY_PROJECT in self.projects or project_id in self.projects

    @classmethod
    def of(cls, user: User) -> "Caller":
        return cls(user.name, user.tenant, user.role, user.projects)


def local_login() -> str:
    """The login name of this process (the single local user's name)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    return name if USER_NAME.fullmatch(name or "") else "local"


def single_local_user(name: str | None = None) -> Caller:
    """The caller of a server without a users file: the login name, administrator of the
    ``local`` tenant, allowed in every project."""
    return Caller(name or local_login(), "local", "admin", (ANY_PROJECT,), single_user=True)


# --------------------------------------------------------------------------------------------
# Reading and writing the file


def _check_name(kind: str, pattern: re.Pattern[str], value: Any, where: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidRequest(f"{where}: {kind} {value!r} must be 1-{_max_len(pattern)} letters, digits"
                             f"{' or ' + _extra_chars(pattern)}, starting with a letter or digit")
    return value


def _max_len(pattern: re.Pattern[str]) -> int:
    bound = re.search(r",(\d+)\}$", pattern.pattern)
    assert bound is not None  # every name pattern ends with its length bound, {0,N}
    return int(bound.group(1)) + 1


def _extra_chars(pattern: re.Pattern[str]) -> str:
    return "'.', '_', '@', '-'" if "@" in pattern.pattern else "'.', '_', '-'"


def check_user_name(name: Any) -> str:
    return _check_name("user name", USER_NAME, name, "user")


def check_project_id(project: Any, where: str = "project") -> str:
    return _check_name("project id", PROJECT_ID, project, where)


def check_tenant(tenant: Any, where: str = "tenant") -> str:
    return _check_name("tenant", TENANT_NAME, tenant, where)


def _parse(path: Path, data: Any) -> dict[str, User]:
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("users", {}), dict):
        raise InvalidRequest(f"{path}: must hold a mapping 'users' of user name to entry")
    unknown = sorted(set(data) - {"users"})
    if unknown:
        raise InvalidRequest(f"{path}: unknown top-level key(s): {', '.join(map(str, unknown))}")
    users: dict[str, User] = {}
    hashes: dict[str, str] = {}
    owners: dict[str, str] = {}  # project -> tenant
    for name, entry in (data.get("users") or {}).items():
        where = f"{path}: user {name!r}"
        check_user_name(name)
        if not isinstance(entry, dict):
            raise InvalidRequest(f"{where}: must be a mapping (tenant, role, projects, token_sha256)")
        extra = sorted(set(entry) - {"tenant", "role", "projects", "token_sha256", "created"})
        if extra:
            raise InvalidRequest(f"{where}: unknown key(s): {', '.join(map(str, extra))}")
        tenant = check_tenant(entry.get("tenant"), f"{where}: tenant")
        role = entry.get("role")
        if role not in ROLES:
            raise InvalidRequest(f"{where}: role must be admin or user, got {role!r}")
        projects = entry.get("projects")
        if not isinstance(projects, list) or not projects:
            raise InvalidRequest(f"{where}: projects must be a non-empty list (or [\"*\"] for any project)")
        if ANY_PROJECT in projects and len(projects) > 1:
            raise InvalidRequest(f"{where}: \"*\" (any project) must stand alone in projects")
        for project in projects:
            if project == ANY_PROJECT:
                continue
            check_project_id(project, f"{where}: projects")
            other = owners.setdefault(project, tenant)
            if other != tenant:
                raise InvalidRequest(
                    f"{where}: project {project!r} already belongs to tenant {other!r}; "
                    "a project belongs to one tenant"
                )
        digest = entry.get("token_sha256")
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise InvalidRequest(f"{where}: token_sha256 must be 64 lower-case hex digits")
        if digest in hashes:
            raise InvalidRequest(f"{where}: has the same token as user {hashes[digest]!r}")
        hashes[digest] = name
        created = entry.get("created", 0)
        if type(created) is not int:
            raise InvalidRequest(f"{where}: created must be an integer (epoch ms)")
        users[name] = User(name, tenant, role, tuple(projects), digest, created)
    return users


def read_users(path: Path) -> dict[str, User]:
    """The users of ``path`` (an empty dict for a missing or empty file); InvalidRequest naming
    the file and the entry for anything wrong in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read the users file {path}: {exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise InvalidRequest(f"the users file {path} is not valid {_format(path)}: {exc}") from None
    return _parse(path, data)


def _format(path: Path) -> str:
    return "TOML" if path.suffix.lower() == ".toml" else "YAML"


_HEADER = "localgene users: edit with `localgene users add/list/remove`; tokens are kept only as SHA-256"


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string here


def _dump(path: Path, users: dict[str, User]) -> str:
    if path.suffix.lower() == ".toml":
        lines = [f"# {_HEADER}", ""]
        for user in users.values():
            lines.append(f"[users.{_toml_string(user.name)}]")
            lines.append(f"tenant = {_toml_string(user.tenant)}")
            lines.append(f"role = {_toml_string(user.role)}")
            lines.append("projects = [" + ", ".join(_toml_string(p) for p in user.projects) + "]")
            lines.append(f"token_sha256 = {_toml_string(user.token_sha256)}")
            lines.append(f"created = {user.created}")
            lines.append("")
        return "\n".join(lines)
    body = yaml.safe_dump({"users": {u.name: u.as_entry() for u in users.values()}},
                         sort_keys=False, default_flow_style=None)
    return f"# {_HEADER}\n{body}"


def _locked(path: Path) -> AbstractContextManager[float]:
    return fileio.locked(path.with_name(f".{path.name}.lock"))


def _write(path: Path, users: dict[str, User]) -> None:
    text = _dump(path, users)
    _parse(path, yaml.safe_load(text) if path.suffix.lower() != ".toml" else tomllib.loads(text))
    fileio.atomic_write_text(path, text, mode=0o600)


def add_user(path: Path, name: str, *, tenant: str, role: str, projects: list[str],
             clock=lambda: time.time_ns() // 1_000_000) -> tuple[User, str]:
    """Add a user with a new token; returns (user, token). The token is not kept anywhere."""
    check_user_name(name)
    check_tenant(tenant)
    if role not in ROLES:
        raise InvalidRequest(f"must be admin or user, got {role!r}", field="role")
    projects = list(dict.fromkeys(projects))
    if not projects:
        raise InvalidRequest("give at least one --project (or --project '*' for any project)", field="projects")
    for project in projects:
        if project != ANY_PROJECT:
            check_project_id(project)
    with _locked(path):
        users = read_users(path)
        if name in users:
            raise InvalidRequest(f"user {name!r} already exists in {path}; remove it first to "
                                 "give it a new token or other projects")
        token = new_token()
        user = User(name, tenant, cast(Role, role), tuple(projects), hash_token(token), clock())  # role: in ROLES, above
        users[name] = user
        _write(path, users)
    return user, token


def remove_user(path: Path, name: str) -> User:
    with _locked(path):
        users = read_users(path)
        if name not in users:
            raise InvalidRequest(f"no user {name!r} in {path}")
        user = users.pop(name)
        _write(path, users)
    return user


# --------------------------------------------------------------------------------------------
# The server's view


@dataclass
class UsersFile:
    """The users file as the server sees it: re-read whenever it changes on disk."""

    path: Path
    _stamp: tuple[int, int, int, int] | None = None
    _by_hash: dict[str, User] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _current_stamp(self) -> tuple[int, int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def users(self) -> dict[str, User]:
        self._refresh()
        return {u.name: u for u in self._by_hash.values()}

    def _refresh(self) -> None:
        stamp = self._current_stamp()
        if stamp == self._stamp and self._stamp is not None:
            return
        with self._lock:
            stamp = self._current_stamp()
            if stamp == self._stamp and self._stamp is not None:
                return
            # A broken file (someone is editing it) keeps the last good version in force.
            try:
                users = read_users(self.path)
            except InvalidRequest:
                if self._stamp is None and not self._by_hash:
                    raise
                return
            self._by_hash = {u.token_sha256: u for u in users.values()}
            self._stamp = stamp

    def authenticate(self, token: str | None) -> Caller:
        """The caller holding ``token``; AuthenticationError (401) otherwise."""
        if not token:
            raise AuthenticationError("missing X-Auth-Token header: send the token that "
                                      "`localgene users add` printed")
        self._refresh()
        digest = hash_token(token)
        user = self._by_hash.get(digest)
        if user is None or not hmac.compare_digest(user.token_sha256, digest):
            raise AuthenticationError("invalid X-Auth-Token: no user has this token")
        return Caller.of(user)
