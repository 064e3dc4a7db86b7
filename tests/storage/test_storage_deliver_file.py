"""Delivering one file to an exact path (deliver_file), and an RNA job's CSV-or-folder output."""

import pytest

from localgene.errors import DeliveryError
from localgene.pipelines.rna import summary
from localgene.pipelines.rna.plan import build_plan
from localgene.storage import deliver_file


def rna_plan(output):
    group = lambda g: {"group_name": g, "group_inputs": [  # noqa: E731
        {"sample_name": f"{g}{i}", "files": [f"/d/{g}{i}_1.fq", f"/d/{g}{i}_2.fq"]} for i in (1, 2)]}
    return build_plan({"job_type": "RNA_DIFF_EXPR", "inputs": [group("a"), group("b")], "output": output,
                       "ref": "/d/g.fa", "gtf": "/d/g.gtf"})  # fmt: skip


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    (root / "de").mkdir(parents=True)
    (root / "de" / "b_vs_a.csv").write_text('"gene_id","gene_name"\n')
    (root / "job.json").write_text("{}\n")
    return root


def test_deliver_file_to_s3a_key(results, s3, bucket, config):
    uri = deliver_file(results / "de" / "b_vs_a.csv", f"s3a://{bucket}/rna/de.csv", config)
    assert uri == f"s3a://{bucket}/rna/de.csv"
    assert s3.get_object(Bucket=bucket, Key="rna/de.csv")["Body"].read() == b'"gene_id","gene_name"\n'


def test_deliver_file_local_and_missing_source(results, tmp_path):
    target = tmp_path / "out" / "x.csv"
    assert deliver_file(results / "job.json", str(target)) == str(target)
    assert target.read_text() == "{}\n"
    with pytest.raises(DeliveryError):
        deliver_file(results / "nope.csv", str(tmp_path / "y.csv"))


def test_rna_csv_output_on_s3a(results, s3, bucket, config):
    plan = rna_plan(f"s3a://{bucket}/projects/p1/table.csv")
    done = summary.deliver(plan, str(results), "job-1", str(results / "de" / "b_vs_a.csv"), config)
    assert done["table"] == f"s3a://{bucket}/projects/p1/table.csv"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"projects/p1/table.csv", "projects/p1/job-1/de/b_vs_a.csv", "projects/p1/job-1/job.json"}


def test_rna_folder_output_local(results, tmp_path):
    plan = rna_plan(str(tmp_path / "out"))
    done = summary.deliver(plan, str(results), "job-2", None)
    assert done["destination"] == str(tmp_path / "out" / "job-2")
    assert (tmp_path / "out" / "job-2" / "de" / "b_vs_a.csv").is_file()
