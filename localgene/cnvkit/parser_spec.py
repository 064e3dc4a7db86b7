"""CNVkit's sub-command parsers without importing CNVkit: a description generated from the
installed CNVkit, shipped beside this module (``cnvkit_parsers.json``), rebuilt into real
``argparse`` parsers when a job's options are checked (docs/speed.md, "Options checked without
importing CNVkit").

Importing ``cnvlib.commands`` to get its parsers costs 2–4 s of CPU (scipy, pandas, matplotlib,
…); it was the largest cost of ``localgene run`` and ``localgene submit`` before any step ran.
The description holds, for each step's parser, every argument CNVkit defines (action, option
strings, dest, nargs, const, default, type, choices, required, metavar) and the parser's own
settings; the three argument types CNVkit defines itself (``csvstring``, ``ploidy_value``,
``purity_value``) are kept as CNVkit's own source text and run as they are. The rebuilt parser
accepts, refuses and parses exactly as CNVkit's (``tests/cnvkit/test_parser_spec.py`` compares
both on every argument and on a battery of option strings, messages included).

The description is used only when it was generated from the CNVkit installed here: it records
CNVkit's version and a digest of the ``cnvlib`` package's source files, which are read (not
imported: ~15 ms) and compared at load. Any difference, a missing or unreadable file, and the
parsers come from ``cnvlib.commands`` as before. Regenerate after changing CNVkit:

    python -m localgene.cnvkit.parser_spec            # rewrite localgene/cnvkit/cnvkit_parsers.json
    python -m localgene.cnvkit.parser_spec --check    # exit 1 if it does not match this CNVkit
"""

from __future__ import annotations

import argparse
import builtins
import dis
import hashlib
import importlib.util
import inspect
import json
import linecache
import sys
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: The parsers a job's checks use: the nine configured steps and the three localgene runs itself.
PARSED_STEPS: tuple[str, ...] = ("target", "antitarget", "coverage", "reference", "fix", "segment",
                                 "call", "genemetrics", "sex", "access", "scatter", "diagram")
SPEC_PATH = Path(__file__).with_name("cnvkit_parsers.json")
SPEC_FORMAT = 1

#: argparse's action classes CNVkit's parsers use, by the name ``add_argument(action=…)`` takes.
_ACTIONS: dict[type, str] = {
    argparse._StoreAction: "store",
    argparse._StoreConstAction: "store_const",
    argparse._StoreTrueAction: "store_true",
    argparse._StoreFalseAction: "store_false",
    argparse._AppendAction: "append",
    argparse._AppendConstAction: "append_const",
    argparse._CountAction: "count",
    argparse._HelpAction: "help",
}
_BUILTIN_TYPES: dict[Any, str] = {int: "int", float: "float", str: "str"}
#: The keywords each action takes in ``add_argument`` (besides option strings and action).
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "store": ("dest", "nargs", "const", "default", "type", "choices", "required", "metavar"),
    "append": ("dest", "nargs", "const", "default", "type", "choices", "required", "metavar"),
    "store_const": ("dest", "const", "default", "required"),
    "append_const": ("dest", "const", "default", "required"),
    "store_true": ("dest", "default", "required"),
    "store_false": ("dest", "default", "required"),
    "count": ("dest", "default", "required"),
    "help": ("dest", "default"),
}
#: (``prog`` is left out: CNVkit's comes from ``sys.argv[0]`` of whoever imported it; the
#: rebuilt parser is named ``cnvkit.py STEP``, as the command line a user types.)
_PARSER_SETTINGS = ("prefix_chars", "fromfile_prefix_chars", "argument_default",
                    "conflict_handler", "allow_abbrev")


class SpecError(Exception):
    """A parser this module cannot describe faithfully (generation refuses it)."""


# -- the installed CNVkit ---------------------------------------------------------------------


def installed_cnvkit() -> dict[str, str] | None:
    """CNVkit's version and a digest of its ``cnvlib`` sources, read without importing it."""
    try:
        found = importlib.util.find_spec("cnvlib")
        cnvkit_version = version("cnvkit")
    except (ImportError, ValueError, PackageNotFoundError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    digest = hashlib.sha256()
    try:
        for path in sorted(Path(next(iter(found.submodule_search_locations))).glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    return {"version": cnvkit_version, "sources_sha256": digest.hexdigest()}


# -- values in JSON (a tuple stays a tuple) ---------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is argparse.SUPPRESS or value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise SpecError(f"value {value!r} has no JSON form")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(_decode(v) for v in value["tuple"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if value == argparse.SUPPRESS:
        return argparse.SUPPRESS  # argparse tests it by identity
    return value


# -- argument types ---------------------------------------------------------------------------


def _describe_type(kind: Any) -> Any:
    if kind is None or kind in _BUILTIN_TYPES:
        return _BUILTIN_TYPES.get(kind)
    if not inspect.isfunction(kind):
        raise SpecError(f"argument type {kind!r} is not a plain function")
    if kind.__code__.co_freevars or kind.__name__ == "<lambda>":
        raise SpecError(f"argument type {kind.__name__} is a closure or a lambda")
    unknown = sorted(_global_names(kind) - {"argparse"} - set(dir(builtins)))
    if unknown or kind.__globals__.get("argparse", argparse) is not argparse:
        raise SpecError(f"argument type {kind.__name__} uses names beyond builtins and argparse: {unknown}")
    return {"function": kind.__name__, "source": inspect.getsource(kind)}


def _global_names(fn: Callable) -> set[str]:
    """The global (or builtin) names ``fn``'s code loads, nested code included."""
    names: set[str] = set()
    codes = [fn.__code__]
    while codes:
        code = codes.pop()
        names.update(i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME"))
        codes.extend(c for c in code.co_consts if inspect.iscode(c))
    return names


def _build_type(described: Any) -> Any:
    if described is None:
        return None
    if isinstance(described, str):
        return {"int": int, "float": float, "str": str}[described]
    namespace: dict[str, Any] = {"argparse": argparse, "__builtins__": builtins}
    source, filename = described["source"], f"<cnvlib.commands.{described['function']}>"
    # the source stays readable (inspect, tracebacks) as for a function of a file
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace[described["function"]]


# -- describe and rebuild ---------------------------------------------------------------------


def describe_parser(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Everything about ``parser`` that decides what it accepts and how it parses."""
    if parser._mutually_exclusive_groups:
        raise SpecError(f"{parser.prog}: mutually exclusive groups are not described")
    if type(parser) is not argparse.ArgumentParser:
        raise SpecError(f"{parser.prog}: a {type(parser).__name__} is not described")
    actions = []
    for action in parser._actions:
        name = _ACTIONS.get(type(action))
        if name is None:
            raise SpecError(f"{parser.prog}: action {type(action).__name__} is not described")
        described: dict[str, Any] = {"action": name, "option_strings": list(action.option_strings)}
        for key in _KEYWORDS[name]:
            value = getattr(action, key)
            if key == "type":
                described[key] = _describe_type(value)
            elif key == "choices" and value is not None:
                described[key] = [_encode(v) for v in value]
            else:
                described[key] = _encode(value)
        actions.append(described)
    settings = {key: _encode(getattr(parser, key)) for key in _PARSER_SETTINGS}
    # set_defaults(...): values put in the namespace; func=_cmd_STEP is CNVkit's command, not an
    # option, and is left out
    defaults = {key: _encode(value) for key, value in parser._defaults.items() if key != "func"}
    return {"settings": settings, "actions": actions, "defaults": defaults}


def build_parser(described: dict[str, Any], prog: str) -> argparse.ArgumentParser:
    """A real ``argparse.ArgumentParser`` with the described settings and arguments, in order."""
    settings = {k: _decode(v) for k, v in described["settings"].items()}
    parser = argparse.ArgumentParser(prog=prog, add_help=False, **settings)
    for action in described["actions"]:
        name = action["action"]
        kwargs: dict[str, Any] = {"action": name}
        for key in _KEYWORDS[name]:
            value = action[key]
            if key == "type":
                kwargs[key] = _build_type(value)
            elif key == "choices" and value is not None:
                kwargs[key] = [_decode(v) for v in value]
            else:
                kwargs[key] = _decode(value)
        if action["option_strings"]:
            parser.add_argument(*action["option_strings"], **kwargs)
        else:  # a positional: its dest is its name; `required` is set as described (argparse
            # derives it from nargs and whether a default was given)
            dest = kwargs.pop("dest")
            required = kwargs.pop("required")
            parser.add_argument(dest, **kwargs).required = required
    parser._defaults.update({key: _decode(value) for key, value in described["defaults"].items()})
    return parser


def describe_cnvkit() -> dict[str, Any]:
    """The description of the installed CNVkit's parsers (imports CNVkit)."""
    from cnvlib import commands

    installed = installed_cnvkit()
    if installed is None:
        raise SpecError("CNVkit's installation cannot be identified")
    choices = commands.AP_subparsers.choices
    return {"format": SPEC_FORMAT, "cnvkit": installed,
            "parsers": {step: describe_parser(choices[step]) for step in PARSED_STEPS}}


@lru_cache(maxsize=1)
def shipped_parsers() -> dict[str, argparse.ArgumentParser] | None:
    """The parsers rebuilt from the shipped description, or None when it does not describe the
    CNVkit installed here (then CNVkit's own parsers are imported)."""
    try:
        spec = json.loads(SPEC_PATH.read_text())
    except (OSError, ValueError):
        return None
    if spec.get("format") != SPEC_FORMAT or spec.get("cnvkit") != installed_cnvkit():
        return None
    try:
        return {step: build_parser(spec["parsers"][step], f"cnvkit.py {step}") for step in PARSED_STEPS}
    except (KeyError, TypeError, ValueError, SyntaxError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localgene.cnvkit.parser_spec",
                                 description="Write (or --check) the description of CNVkit's parsers.")
    ap.add_argument("--check", action="store_true", help="exit 1 if the shipped description is stale")
    args = ap.parse_args(argv)
    text = json.dumps(describe_cnvkit(), indent=1, sort_keys=True) + "\n"
    if args.check:
        current = SPEC_PATH.read_text() if SPEC_PATH.is_file() else ""
        if current != text:
            print(f"{SPEC_PATH} does not describe the installed CNVkit; regenerate it with "
                  "`python -m localgene.cnvkit.parser_spec`", file=sys.stderr)
            return 1
        print(f"{SPEC_PATH}: up to date")
        return 0
    SPEC_PATH.write_text(text)
    print(f"wrote {SPEC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
