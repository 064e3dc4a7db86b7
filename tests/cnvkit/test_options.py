"""The per-step CNVkit option strings: accepted as CNVkit accepts them, refused with a reason."""

import json

import pytest

from localgene.cnvkit import options_snapshot
from localgene.cnvkit.coverage_cache import normalized_options
from localgene.cnvkit.options import (
    CONF_FIELD_OF_STEP,
    STEPS,
    check_options,
    check_step,
    cnvkit_parsers,
)
from localgene.cnvkit.options_snapshot import load_snapshot, save_snapshot
from localgene.errors import InvalidRequest, UnsupportedOption
from localgene.jobs.bodies import SERVICE_EXAMPLE_BODY

#: The option strings of the service's sample body.
SERVICE_SAMPLE = {k: v for k, v in SERVICE_EXAMPLE_BODY.items() if k.endswith("_conf")}


def test_service_sample_options_are_accepted_and_kept_as_argv():
    checked = check_options(SERVICE_SAMPLE, cores=2)
    for step in STEPS:
        assert checked.argv(step) == SERVICE_SAMPLE[CONF_FIELD_OF_STEP[step]].split()
    assert checked.value("segment", "threshold") == pytest.approx(0.001)
    assert checked.value("coverage", "min_mapq") == 10
    assert checked.value("sex", "male_reference") is True
    assert checked.value("reference", "do_rmask") is False


def test_service_sample_options_record_the_warnings_a_bioinformatician_needs():
    warnings = "\n".join(check_options(SERVICE_SAMPLE, cores=2).warnings)
    assert "-y (male reference) is set in sex_conf but not in reference_conf" in warnings
    assert "-a/--alpha and -b/--bootstrap have no effect without --ci or --pi" in warnings
    assert "--center-at 0 has no effect" in warnings
    assert "homozygous (two-copy) deletions cannot be called" in warnings
    assert "-p 5 is more than this machine's 2 cores" in warnings


def test_consistent_male_reference_gives_no_sex_warning():
    body = {f"{s}_conf": "-y" for s in ("reference", "call", "genemetrics", "sex")}
    assert not [w for w in check_options(body, cores=2).warnings if "male reference" in w]


def test_empty_and_missing_option_strings_mean_cnvkit_defaults():
    checked = check_options({}, cores=2)
    assert all(checked.argv(step) == [] for step in STEPS)
    assert checked.segment_method == "cbs"
    assert checked.warnings == []


def test_known_options_come_from_cnvkits_own_parser():
    # An option CNVkit added is accepted without any list in localgene naming it.
    parser = cnvkit_parsers()["segment"]
    flags = {s for a in parser._actions for s in a.option_strings}
    assert "--smooth-cbs" in flags
    assert check_step("segment", "--smooth-cbs").argv == ["--smooth-cbs"]


@pytest.mark.parametrize(
    "step, text, fragment",
    [
        ("coverage", "--no-such-option", "unrecognized arguments: --no-such-option"),
        ("sex", "--split", "unrecognized arguments: --split"),  # target's option, not sex's
        ("segment", "-m nope", "invalid choice: 'nope'"),
        ("coverage", "-q ten", "invalid int value: 'ten'"),
        ("call", "-t -1.1,-0.4,0.3,0.7", "a negative value needs '='"),
        ("call", "--help", "-h/--help is not an option for a job"),
    ],
)
def test_options_cnvkit_rejects_are_refused_naming_the_field(step, text, fragment):
    with pytest.raises(UnsupportedOption) as err:
        check_step(step, text)
    assert str(err.value).startswith(f"{step}_conf: ")
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "step, text, fragment",
    [
        ("segment", "-o /tmp/x.cns", "-o/--output names an output file"),
        ("call", "--output=x.cns", "-o/--output names an output file"),
        ("segment", "-d out.rds", "-d/--dataframe names an output file"),
        ("segment", "--purity-output p.tsv", "--purity-output names an output file"),
        ("target", "--annotate /data/refFlat.txt", "set by localgene from has_annotate"),
        ("antitarget", "-g access.bed", "set by localgene from ref"),
        ("reference", "-f other.fa", "set by localgene from ref"),
        ("fix", "-r other.cnn", "set by localgene from control_inputs"),
        ("genemetrics", "-s other.cns", "set by localgene"),
        ("segment", "--rscript-path /bin/sh", "outside the job"),
        ("call", "--vcf /data/x.vcf", "outside the job"),
        ("call", "--purity-file ../p.tsv", "outside the job"),
        ("fix", "-i ../../etc/passwd", "looks like a path"),
        ("reference", "--diploid-parx-genome ~/x", "looks like a path"),
        ("coverage", "other.bam", "passes each step's input files itself"),
        ("sex", "extra.cnn", "takes no file arguments"),
    ],
)
def test_options_naming_files_or_outputs_are_refused(step, text, fragment):
    with pytest.raises(UnsupportedOption) as err:
        check_step(step, text)
    assert str(err.value).startswith(f"{step}_conf: ")
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "text",
    ["-q 10; rm -rf /", "-q $(id)", "-q `id`", "-q 10 | cat", "-q 10 && true", "-q 10 > f", "-q 1\n-p 2", "-q *"],
)
def test_shell_syntax_is_refused(text):
    with pytest.raises(UnsupportedOption, match=r"^coverage_conf: contains shell syntax"):
        check_step("coverage", text)


def test_unbalanced_quotes_are_refused():
    with pytest.raises(InvalidRequest, match=r"^call_conf: cannot be split into options"):
        check_step("call", "--center 'mean")


def test_non_string_option_field_is_refused():
    with pytest.raises(InvalidRequest, match="^fix_conf: must be a string"):
        check_options({"fix_conf": ["--no-rmask"]})


@pytest.mark.parametrize(
    "step, text, fragment",
    [
        ("segment", "-m hmm -t 0.001", "for HMM methods -t is a smoothing window"),
        ("segment", "-m hmm-tumor -t 1", "for HMM methods -t is a smoothing window"),
        ("segment", "-m cbs -t 5", "must be between 0 and 1"),
        ("segment", "-m haar -t 0", "must be between 0 and 1"),
        ("call", "--filter ci", "needs segment confidence intervals"),
        ("call", "--filter sem", "needs segment confidence intervals"),
        ("call", "-m none --filter ampdel", "need copy numbers"),
        ("genemetrics", "--ci -a 1.5", "-a/--alpha 1.5 must be between 0 and 1"),
        ("coverage", "-p 0", "-p/--processes must be at least 1"),
    ],
)
def test_combinations_cnvkit_would_reject_at_run_time_are_refused_early(step, text, fragment):
    with pytest.raises(UnsupportedOption) as err:
        check_step(step, text)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "step, text",
    [
        ("segment", "-m hmm -t 5"),
        ("segment", "-m haar -t 0.01"),
        ("call", "-t=-1.1,-0.4,0.3,0.7"),
        ("call", "--filter ampdel --merge cn"),
        ("call", "-m clonal --purity 0.7"),
        ("genemetrics", "--ci -a 0.01 -b 200"),
        ("fix", "-i tumour_1"),
        ("reference", "-y --no-gc"),
        ("coverage", "--count -q 20"),
        ("segment", "--drop-low"),  # an abbreviation argparse (and so CNVkit) accepts
    ],
)
def test_valid_combinations_pass(step, text):
    assert check_step(step, text).argv


def test_silently_ignored_options_are_warned_about():
    checked = check_options(
        {"call_conf": "-m clonal -t=-1,0,1,2", "segment_conf": "-m haar --smooth-cbs"}, cores=2
    )
    text = "\n".join(checked.warnings)
    assert "-t/--thresholds are ignored with -m clonal" in text
    assert "--smooth-cbs has no effect with -m haar" in text


def test_bias_corrections_that_differ_between_reference_and_fix_are_warned_about():
    checked = check_options({"reference_conf": "--no-rmask"}, cores=2)
    assert any("--no-rmask is given in reference_conf only" in w for w in checked.warnings)


def test_snapshot_gives_cluster_jobs_the_options_the_main_process_checked(tmp_path):
    body = dict(SERVICE_SAMPLE, coverage_conf="-q 10 -p 2 --min-mapq=5")
    checked = check_options(body)
    path = tmp_path / ".snakemake" / "localgene" / "options.json"
    save_snapshot(checked, body, path)
    loaded = load_snapshot(body, path)
    assert loaded is not None
    for step in STEPS:
        assert loaded.argv(step) == checked.argv(step)
        assert loaded.steps[step].given == checked.steps[step].given
    # what the rules read from it: threads, -y, the method, the coverage cache key
    assert loaded.value("coverage", "processes") == 2 and loaded.male_reference is checked.male_reference
    assert loaded.segment_method == checked.segment_method == "cbs"
    assert normalized_options(loaded.steps["coverage"].values) == normalized_options(checked.steps["coverage"].values)
    assert "func" not in loaded.steps["coverage"].values  # CNVkit's command function is not JSON


def test_snapshot_of_other_option_strings_is_not_used(tmp_path):
    path = tmp_path / "options.json"
    body = dict(SERVICE_SAMPLE)
    save_snapshot(check_options(body), body, path)
    assert load_snapshot(dict(body, call_conf="-m clonal"), path) is None
    assert load_snapshot(body, tmp_path / "absent.json") is None
    data = json.loads(path.read_text())
    data["steps"]["coverage"]["argv"] += ["--count"]  # an argv that is not the job's option string
    path.write_text(json.dumps(data))
    assert load_snapshot(body, path) is None
    path.write_text("{not json")
    assert load_snapshot(body, path) is None


def test_a_check_is_reused_by_later_jobs_with_the_same_option_strings(tmp_path, monkeypatch):
    """A second job with the same option strings needs no CNVkit import: the check is read back."""
    from localgene.cnvkit import options as opts

    body = {"segment_conf": "-m cbs", "coverage_conf": "-q 10", "target_conf": "--split"}
    first = options_snapshot.check_options_cached(body, cores=2, cache_dir=tmp_path)
    calls = []
    real = opts.check_options
    monkeypatch.setattr(opts, "check_options", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = options_snapshot.check_options_cached(body, cores=2, cache_dir=tmp_path)
    assert calls == [] and again.steps["segment"].argv == first.steps["segment"].argv == ["-m", "cbs"]
    as_json = lambda c: json.dumps({s: {k: v for k, v in c.steps[s].values.items() if options_snapshot._is_json(v)}  # noqa: E731
                                   for s in c.steps}, sort_keys=True)
    assert as_json(again) == as_json(first)  # what the job snapshot (and Snakemake) reads back
    assert again.warnings == first.warnings
    options_snapshot.check_options_cached({**body, "call_conf": "-m clonal"}, cores=2, cache_dir=tmp_path)
    assert len(calls) == 1  # other option strings: checked
    with pytest.raises(Exception, match="call_conf"):
        options_snapshot.check_options_cached({**body, "call_conf": "--no-such-option"}, cores=2, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 2  # a refusal is not cached
