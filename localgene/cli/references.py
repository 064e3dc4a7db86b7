"""``localgene references add/list/remove``: the names pipeline bodies may use for references.

A pipeline body may name its reference, annotation, known sites, intervals, panel of normals
or germline resource by a name (``"ref": "hg38"``) instead of a path. The names live in
``$LOCALGENE_HOME/references.json``; each maps to its files (local paths or s3a:// objects):
the first is what the name stands for, the others (an index, a dictionary) are put beside it.
A running server sees changes at the next submission. docs/pipelines.md has the details.
"""

from __future__ import annotations

import argparse
import json
import sys

from localgene import settings as settings_mod
from localgene.jobs import references


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("references", help="manage the reference registry (names such as hg38 for pipeline jobs)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    verbs = p.add_subparsers(dest="references_command", metavar="ACTION")
    verbs.required = True

    a = verbs.add_parser("add", help="add a name for one or more files (checked to exist)")
    a.add_argument("name", help="the name bodies use, e.g. hg38 or dbsnp_146.hg38.vcf")
    a.add_argument("files", nargs="+", metavar="FILE",
                   help="the file the name stands for, then its companions (index, dictionary); "
                   "local paths (relative ones from the current folder), file:// or s3a:// URLs")
    a.add_argument("--kind", choices=list(references.KINDS),
                   help="what the file is (default: guessed from its name: .fa fasta, .gtf gtf, .vcf.gz vcf, ...)")
    a.add_argument("--replace", action="store_true", help="replace an existing entry of that name")
    a.add_argument("--no-check", action="store_true",
                   help="do not check that the files exist now (they are checked at every submission)")
    a.set_defaults(func=_cmd_add)

    ls = verbs.add_parser("list", help="list the names and their files")
    ls.add_argument("--json", action="store_true", help="JSON instead of a table")
    ls.set_defaults(func=_cmd_list)

    r = verbs.add_parser("remove", help="remove a name (jobs that use it and have not run yet then fail)")
    r.add_argument("name")
    r.set_defaults(func=_cmd_remove)


def _home():
    return settings_mod.load().ensure_dirs().home


def _cmd_add(args: argparse.Namespace) -> int:
    entry = references.add(_home(), args.name, args.files, kind=args.kind, replace=args.replace,
                           check=not args.no_check)
    print(f"{entry.name} ({entry.kind}): {', '.join(entry.files)}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    registry = references.load(_home())
    if args.json:
        json.dump({n: registry.entries[n].to_json() for n in registry.names()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not registry.names():
        print(f"(no references in {registry.path}; add one with `localgene references add NAME FILE`)")
        return 0
    width = max(len(n) for n in registry.names())
    print(f"{'NAME':{width}}  {'KIND':17}  FILES")
    for name in registry.names():
        entry = registry.entries[name]
        print(f"{name:{width}}  {entry.kind:17}  {' '.join(entry.files)}")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    entry = references.remove(_home(), args.name)
    print(f"removed {entry.name} ({', '.join(entry.files)})")
    return 0
