"""``report REQUEST_JSON``: the CNVkit job's report page, as an entry of the job's CNVkit step
server (``localgene.cnvkit.server.ENTRIES``): forked there, pandas and jinja2 are imported
already (about 0.4 s of the job's last steps otherwise). The request holds ``paths`` (the
layout :func:`localgene.report.write_report` reads) and ``out`` (the page); both relative to
the job folder, the step's working directory."""

from __future__ import annotations

import json
import sys

from localgene import report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m localgene.report.entry REQUEST_JSON", file=sys.stderr)
        return 2
    request = json.loads(argv[0])
    report.write_report(".", request["paths"], request["out"])
    print(f"wrote {request['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
