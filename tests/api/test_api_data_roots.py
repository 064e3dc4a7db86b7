"""A server with a users file reads and writes only under the administrator's data roots: the
corpus of escape attempts (symlinks, `..`, file://, double encoding, another job's folder or
results, $LOCALGENE_HOME, /proc, the users file), each a 403 DLI.0012 naming the field, with
nothing recorded; the single local user keeps today's behaviour."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest
from api_helpers import make_inputs
from fastapi.testclient import TestClient
from spec_checks import check_error

from localgene import cli
from localgene.api.app import ApiSettings, create_app
from localgene.api.data_roots import local_paths, parse_root_specs
from localgene.errors import InvalidRequest

CNVKIT = "/v2.0/{p}/gene/tools/cnvkit"
JOBS = "/v2.0/{p}/gene/jobs"


@pytest.fixture
def roots(env, tmp_path):
    """Server root ``shared/`` (every project) holding the usual inputs; ``p2only/`` for p2."""
    shared = make_inputs(tmp_path / "shared")
    p2only = make_inputs(tmp_path / "p2only")
    app = create_app(ApiSettings(env.cfg, users_path=env.users_path, data_roots=(shared,),
                                 project_roots={"p2": (p2only,)}))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, shared, p2only


def body_in(folder: Path, **fields):
    body = {
        "experimental_inputs": [str(folder / "T1.bam")],
        "control_inputs": [str(folder / "N1.bam"), str(folder / "N2.bam")],
        "output_dir": str(folder / "output"),
        "ref": str(folder / "genome.fa"),
        "bed": str(folder / "targets.bed"),
        "has_annotate": True,
        "annotation_file": str(folder / "refFlat.txt"),
    }
    body.update(fields)
    return body


def refused(client, env, user, project, body, field, *needles, url=CNVKIT):
    before = env.snapshot()
    reply = client.post(url.format(p=project), json=body, headers=env.headers(user))
    check_error(reply, 403, "DLI.0012", f"{field}: ", *needles)
    assert env.snapshot() == before, "a refused job left a record or a folder"
    return reply.json()["error_msg"]


def test_paths_inside_the_roots_are_accepted_per_project(roots, env):
    client, shared, p2only = roots
    assert client.post(CNVKIT.format(p="p1"), json=body_in(shared), headers=env.headers("alice")).status_code == 201
    assert client.post(CNVKIT.format(p="p2"), json=body_in(p2only), headers=env.headers("alice")).status_code == 201
    # file:// URLs are judged by the path they name
    url = "file://" + urllib.parse.quote(str(shared / "genome.fa"))
    assert client.post(CNVKIT.format(p="p1"), json=body_in(shared, ref=url),
                       headers=env.headers("bob")).status_code == 201
    # an annotation_file sent with has_annotate false is not read, so not judged (the spec's example)
    assert client.post(CNVKIT.format(p="p1"), json=body_in(shared, has_annotate=False, annotation_file="/etc/x"),
                       headers=env.headers("bob")).status_code == 201
    # p2's own root is not p1's
    refused(client, env, "alice", "p1", body_in(p2only), "experimental_inputs[0]",
            "outside the data roots of project p1", str(shared))


def test_the_escape_corpus_is_refused_naming_the_field(roots, env, tmp_path):
    client, shared, _ = roots
    secret = tmp_path / "secret.fa"
    secret.write_text(">x\nACGT\n")
    (shared / "etc-link").symlink_to("/etc")
    (shared / "passwd.fa").symlink_to("/etc/passwd")
    (shared / "home-link").symlink_to(env.home)
    cases = [
        # a symlink inside a root that leads out of it: judged where it leads
        ({"ref": str(shared / "passwd.fa")}, "ref", "which leads to /etc/passwd", "outside the data roots"),
        ({"bed": str(shared / "etc-link" / "hosts")}, "bed", "which leads to /etc/hosts"),
        # `..` out of a root, plain and as a file:// URL
        ({"ref": str(shared / ".." / "secret.fa")}, "ref", "outside the data roots"),
        ({"ref": f"file://{shared}/../secret.fa"}, "ref", "outside the data roots"),
        # percent-encoded `..` in a file:// URL is decoded once (RFC 8089): still `..`
        ({"ref": f"file://{shared}/%2e%2e/secret.fa"}, "ref", "outside the data roots"),
        ({"control_inputs": [str(shared / "N1.bam"), "file:///etc/passwd"]}, "control_inputs[1]",
         "outside the data roots"),
        # $LOCALGENE_HOME (database, job folders, caches), the users file, /proc: never
        ({"ref": str(env.cfg.db_path)}, "ref", "which no job may read or write"),
        ({"ref": str(shared / "home-link" / "localgene.db")}, "ref", "which no job may read or write"),
        ({"annotation_file": str(env.users_path)}, "annotation_file", "which no job may read or write"),
        ({"ref": "/proc/self/environ"}, "ref", "which no job may read or write"),
        ({"output_dir": str(env.home / "jobs")}, "output_dir", "which no job may read or write"),
        # an output_dir outside the roots (e.g. over system files)
        ({"output_dir": "/etc"}, "output_dir", "outside the data roots"),
    ]
    for fields, field, *needles in cases:
        refused(client, env, "bob", "p1", body_in(shared, **fields), field, *needles)


def test_double_encoding_stays_a_literal_name_inside_the_root(roots, env):
    client, shared, _ = roots
    # %252e%252e decodes once to the literal name "%2e%2e", a (missing) folder inside the root:
    # not an escape, so it is judged as an input that does not exist (400), not as a way out.
    reply = client.post(CNVKIT.format(p="p1"), json=body_in(shared, ref=f"file://{shared}/%252e%252e/secret.fa"),
                        headers=env.headers("bob"))
    check_error(reply, 400, "DLI.0002", "ref: ", "does not exist")


def test_another_jobs_folder_and_results_cannot_be_used(roots, env):
    client, shared, _ = roots
    h = env.headers("bea")
    reply = client.post(CNVKIT.format(p="p1"), json=body_in(shared), headers=h)
    theirs = reply.json()["instance_id"]
    job_dir = env.cfg.job_dir(theirs)
    (job_dir / "results").mkdir(parents=True)
    (job_dir / "results" / "reference.cnn").write_text("chromosome\tstart\tend\n")
    delivered = shared / "output" / theirs
    (delivered / "samples").mkdir(parents=True)
    (delivered / "samples" / "T1.cns").write_text("chromosome\tstart\tend\n")
    (delivered / "reference.fa").write_text(">x\nACGT\n")
    # another user's job folder as ref: inside $LOCALGENE_HOME
    refused(client, env, "bob", "p1", body_in(shared, ref=str(job_dir / "results" / "reference.cnn")), "ref",
            "which no job may read or write")
    # another user's delivered results as an input
    refused(client, env, "bob", "p1", body_in(shared, ref=str(delivered / "reference.fa")), "ref",
            "inside the delivered results of another user's job")
    # an output_dir over another job's results (anyone's, the owner's too)
    for user in ("bob", "bea"):
        refused(client, env, user, "p1", body_in(shared, output_dir=str(delivered)), "output_dir",
                f"inside the delivered results of job {theirs}")
        refused(client, env, user, "p1", body_in(shared, output_dir=str(delivered / "samples")), "output_dir",
                "an output_dir may not lie over another job's results")
    # the owner may read their own delivered results
    assert client.post(CNVKIT.format(p="p1"), json=body_in(shared, ref=str(delivered / "reference.fa")),
                       headers=h).status_code == 201


def test_pipeline_bodies_are_held_to_the_roots_too(roots, env):
    client, shared, _ = roots
    body = {"job_type": "DNA_GERMLINE", "input": ["/etc/s_1.fq.gz", str(shared / "s_2.fq.gz")],
            "output": str(shared / "out.vcf"), "file_type": "fastq", "ref": "hg38",
            "knownsites": ["dbsnp_146.hg38.vcf"]}
    before = env.snapshot()
    reply = client.post(JOBS.format(p="p1"), json=body, headers=env.headers("bob"))
    if reply.status_code == 400:  # the body's own problems come first: fix the example instead
        pytest.fail(reply.text)
    check_error(reply, 403, "DLI.0012", "input[0]: /etc/s_1.fq.gz is outside the data roots")
    body["input"][0] = str(shared / "s_1.fq.gz")
    body["output"] = str(env.home / "out.vcf")
    check_error(client.post(JOBS.format(p="p1"), json=body, headers=env.headers("bob")), 403, "DLI.0012",
                "output: ", "which no job may read or write")
    assert env.snapshot() == before


def test_no_data_root_means_no_local_path(env):
    app = create_app(ApiSettings(env.cfg, users_path=env.users_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        refused(client, env, "bob", "p1", body_in(env.inputs), "experimental_inputs[0]",
                "none configured: the administrator starts the server with --data-root DIR")


def test_the_single_local_user_keeps_todays_behaviour(env, tmp_path):
    app = create_app(ApiSettings(env.cfg, users_path=None, local_user="me"))
    with TestClient(app) as client:
        outside = tmp_path / "anywhere"
        make_inputs(outside)
        assert client.post(CNVKIT.format(p="p1"), json=body_in(outside)).status_code == 201


def test_local_paths_walks_every_field_and_skips_objects():
    body = {"a": "/x", "b": ["s3a://b/k", "file:///y", "rel"], "c": {"d": [{"e": "/z"}]}, "f": "-m cbs",
            "ref": "relative.fa"}
    assert list(local_paths(body, named=("ref",))) == [("a", "/x"), ("b[1]", "file:///y"), ("c.d[0].e", "/z"),
                                                        ("ref", "relative.fa")]


def test_root_specs_and_serve_options(tmp_path, monkeypatch, capsys):
    (tmp_path / "d").mkdir()
    server, projects = parse_root_specs([str(tmp_path / "d"), f"p1={tmp_path / 'd'}"])
    assert server == (Path(os.path.realpath(tmp_path / "d")),) and list(projects) == ["p1"]
    for bad, needle in (("relative", "not an absolute path"), (f"bad project={tmp_path}", "not a project id"),
                        (str(tmp_path / "missing"), "not an absolute path of a folder")):
        with pytest.raises(InvalidRequest, match=needle):
            parse_root_specs([bad])
    # data roots only make sense with a users file
    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOCALGENE_USERS", raising=False)
    assert cli.main(["serve", "--port", "0", "--data-root", str(tmp_path / "d")]) == 2
    assert "--data-root: data roots keep the users of a users file apart" in capsys.readouterr().err
