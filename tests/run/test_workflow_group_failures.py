"""failure_message for grouped SLURM jobs (several steps in one SLURM job, config/slurm groups)
and for sbatch refusals, from logs shaped as Snakemake 9 and the SLURM plugin 2.8 write them."""

from __future__ import annotations

from pathlib import Path

from localgene.run.workflow import failure_message

OUTER = """SLURM run ID: 5d1
Job f704 has been submitted with SLURM jobid 52 (log: {d}/.snakemake/slurm_logs/group_coverage_coverage/52.log).
[Tue Dec  1 13:36:16 2026]
    message: Error in group coverage
    log: {d}/.snakemake/slurm_logs/group_coverage_coverage/52.log (check log file(s) for error details)
    jobs:
        rule coverage:
            jobid: 12
            output: results/coverage/N2.targetcoverage.cnn
            log: logs/coverage/N2.target.log (check log file(s) for error details)
    [Tue Dec  1 13:36:16 2026]
    Error in rule coverage:
        message: None
        jobid: 12
        log: logs/coverage/N2.target.log (check log file(s) for error details)
Exiting because a job execution failed. Look above for error messages
"""

INNER = """Building DAG of jobs...
[Tue Dec  1 13:36:10 2026]
Error in rule coverage:
    jobid: 0
    input: inputs/bam/N2.bam
    output: results/coverage/N2.targetcoverage.cnn
    log: logs/coverage/N2.target.log (check log file(s) for error details)
    wildcards: sample=N2, kind=target
"""


def _job(tmp_path: Path, inner_extra: str, step_log: str) -> Path:
    d = tmp_path
    (d / "logs" / "coverage").mkdir(parents=True)
    (d / ".snakemake" / "slurm_logs" / "group_coverage_coverage").mkdir(parents=True)
    (d / "logs" / "snakemake.log").write_text(OUTER.format(d=d))
    (d / ".snakemake" / "slurm_logs" / "group_coverage_coverage" / "52.log").write_text(INNER + inner_extra)
    (d / "logs" / "coverage" / "N2.target.log").write_text(step_log)
    return d


def test_a_memory_kill_inside_a_group_job_names_the_step_the_limit_and_the_slurm_job(tmp_path):
    d = _job(tmp_path, "slurmstepd-vm: error: StepId=52.3 exceeded memory limit (83886080 > 52428800), being killed\n"
             "srun: error: vm: task 0: Killed\n", "$ cnvkit.py coverage ...\n")
    assert failure_message(d / "logs" / "snakemake.log", d) == (
        "step 'coverage' (sample=N2, kind=target) was killed by SLURM: out of memory (80 MB > 50 MB limit; "
        "raise the step's mem_mb) [SLURM job 52; log: .snakemake/slurm_logs/group_coverage_coverage/52.log]")


def test_a_step_failing_on_its_own_inside_a_group_keeps_its_reason(tmp_path):
    d = _job(tmp_path, "", "$ cnvkit.py coverage ...\nTraceback (most recent call last):\n  File x\n"
             "ValueError: no reads in N2.bam\n")
    message = failure_message(d / "logs" / "snakemake.log", d)
    assert message.startswith("step 'coverage' (sample=N2, kind=target) failed: ValueError: no reads in N2.bam")
    assert message.endswith("[SLURM job 52; log: .snakemake/slurm_logs/group_coverage_coverage/52.log]")


def test_a_group_job_cancelled_from_outside_names_the_group_and_the_slurm_job(tmp_path):
    d = _job(tmp_path, "", "$ cnvkit.py coverage ...\n")
    path = d / ".snakemake" / "slurm_logs" / "group_coverage_coverage" / "52.log"
    path.write_text("Building DAG of jobs...\nslurmstepd-vm: error: *** JOB 52 ON vm CANCELLED AT 2026-12-01T13:55:21 ***\n")
    assert failure_message(d / "logs" / "snakemake.log", d) == (
        "group 'coverage' failed: SLURM job 52 ended CANCELLED [log: .snakemake/slurm_logs/group_coverage_coverage/52.log]")


def test_an_sbatch_refusal_names_the_setting_and_the_site_profile(tmp_path):
    (tmp_path / "logs" / "profile").mkdir(parents=True)
    (tmp_path / "logs" / "profile" / "config.yaml").write_text(
        "# Written by localgene for this job: config/slurm with /site/prof laid over it.\nexecutor: slurm\n")
    (tmp_path / "logs" / "snakemake.log").write_text(
        "Error in rule access:\n    message: SLURM sbatch failed. The error message was 'sbatch: error: Batch job "
        "submission failed: Invalid account or account/partition combination specified'.\n    jobid: 15\n")
    assert failure_message(tmp_path / "logs" / "snakemake.log", tmp_path) == (
        "step 'access' was not submitted: SLURM refused the job: Invalid account or account/partition combination "
        "specified; set slurm_account under default-resources in your site profile /site/prof/config.yaml")


def test_a_group_job_killed_before_any_step_reported_names_every_step_it_held(tmp_path):
    # Seen with five coverages in one SLURM job under a 100 MB limit: slurmstepd kills the whole
    # batch step before the inner Snakemake writes a single "Error in rule" block.
    d = tmp_path
    slurm_log = d / ".snakemake" / "slurm_logs" / "group_coverage_coverage" / "2.log"
    slurm_log.parent.mkdir(parents=True)
    (d / "logs").mkdir()
    started = "".join(f"rule coverage:\n    jobid: {j}\n    wildcards: sample={s}\n" for j, s in ((3, "T1"), (20, "N1")))
    listed = "".join(f"        rule coverage:\n            jobid: {j}\n            output: results/coverage/{s}.cnn\n"
                     for j, s in ((3, "T1"), (20, "N1")))
    (d / "logs" / "snakemake.log").write_text(
        f"SLURM run ID: 5d1\n{started}"
        f"Job f704 has been submitted with SLURM jobid 2 (log: {slurm_log}).\n"
        "[Tue Dec  1 16:28:27 2026]\n    message: Error in group coverage\n"
        f"    log: {slurm_log} (check log file(s) for error details)\n    jobs:\n{listed}"
        "    Error in rule coverage:\n        message: None\n        jobid: 3\n"
        "Exiting because a job execution failed. Look above for error messages\n")
    slurm_log.write_text(
        "Building DAG of jobs...\n"
        "slurmstepd-vm: error: StepId=2.batch exceeded memory limit (141082624 > 104857600), being killed\n"
        "slurmstepd-vm: error: *** JOB 2 ON vm CANCELLED AT 2026-12-01T16:28:18 ***\n"
        "slurmstepd-vm: error: Exceeded job memory limit\n")
    assert failure_message(d / "logs" / "snakemake.log", d) == (
        "group 'coverage' (coverage for sample=T1, sample=N1) was killed by SLURM: out of memory (134 MB > 100 MB "
        "limit; raise the step's mem_mb) [SLURM job 2; log: .snakemake/slurm_logs/group_coverage_coverage/2.log]")


def test_of_a_steps_logs_the_one_that_reports_the_error_gives_the_reason(tmp_path):
    # coverage writes one log per kind: the target kind went fine, the antitarget kind failed
    d = tmp_path
    (d / "logs" / "coverage").mkdir(parents=True)
    (d / "logs" / "snakemake.log").write_text(
        "Error in rule coverage:\n    jobid: 3\n"
        "    log: logs/coverage/N2.target.log, logs/coverage/N2.antitarget.log (check log file(s) for error details)\n"
        "    wildcards: sample=N2\n")
    (d / "logs" / "coverage" / "N2.target.log").write_text("$ cnvkit.py coverage ...\nWrote N2.targetcoverage.cnn\n")
    (d / "logs" / "coverage" / "N2.antitarget.log").write_text(
        "$ cnvkit.py coverage ...\nTraceback (most recent call last):\n  File x\nOSError: [Errno 28] No space left on device\n")
    assert failure_message(d / "logs" / "snakemake.log", d) == (
        "step 'coverage' (sample=N2) failed: OSError: [Errno 28] No space left on device "
        "[log: logs/coverage/N2.antitarget.log]")


def _events(d: Path, *events: dict) -> None:
    """The run's events as localgene's logger plugin writes them (docs/events.md); the text log
    is left empty, so the message can only come from the events."""
    import json

    from localgene.run.events import events_path

    path = events_path(d)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"time": 0.0, **e}) + "\n" for e in
                            ({"event": "logger_started", "format": 1, "pid": 1}, *events)))
    (d / "logs" / "snakemake.log").write_text("")


def _group_events(d: Path, jobs: list[tuple[int, str]], slurm_log: Path, external: str) -> None:
    _events(
        d, {"event": "executor_run", "run_id": "5d1"},
        {"event": "group_info", "group": "coverage", "jobs": [j for j, _ in jobs]},
        *({"event": "job_info", "jobid": j, "rule": "coverage", "wildcards": {"sample": s}, "log": [],
           "local": False, "in_group": True} for j, s in jobs),
        {"event": "executor_job_submitted", "jobid": "f704", "external_jobid": external, "log": str(slurm_log)},
        {"event": "group_error", "group": "coverage", "message": "Error in group coverage", "log": [str(slurm_log)],
         "jobs": [{"jobid": j, "rule": "coverage", "message": None, "log": [], "aux": {}} for j, _ in jobs],
         "aux": {"external_jobid": external}},
        *({"event": "job_error", "jobid": j, "rule": "coverage", "message": None, "log": [], "aux": {},
           "in_group": True} for j, _ in jobs),
        {"event": "error", "exception": "WorkflowError", "message": "At least one job did not complete successfully."})


def test_from_the_events_a_memory_kill_inside_a_group_job_names_the_step_and_the_limit(tmp_path):
    d = _job(tmp_path, "slurmstepd-vm: error: StepId=52.3 exceeded memory limit (83886080 > 52428800), being killed\n"
             "srun: error: vm: task 0: Killed\n", "$ cnvkit.py coverage ...\n")
    _group_events(d, [(12, "N2")], d / ".snakemake" / "slurm_logs" / "group_coverage_coverage" / "52.log", "52")
    assert failure_message(d / "logs" / "snakemake.log", d) == (
        "step 'coverage' (sample=N2, kind=target) was killed by SLURM: out of memory (80 MB > 50 MB limit; "
        "raise the step's mem_mb) [SLURM job 52; log: .snakemake/slurm_logs/group_coverage_coverage/52.log]")


def test_from_the_events_a_group_killed_before_any_step_reported_names_its_steps(tmp_path):
    d = tmp_path
    slurm_log = d / ".snakemake" / "slurm_logs" / "group_coverage_coverage" / "2.log"
    slurm_log.parent.mkdir(parents=True)
    (d / "logs").mkdir()
    slurm_log.write_text(
        "Building DAG of jobs...\n"
        "slurmstepd-vm: error: StepId=2.batch exceeded memory limit (141082624 > 104857600), being killed\n"
        "slurmstepd-vm: error: *** JOB 2 ON vm CANCELLED AT 2026-12-01T16:28:18 ***\n")
    _group_events(d, [(3, "T1"), (20, "N1")], slurm_log, "2")
    assert failure_message(d / "logs" / "snakemake.log", d) == (
        "group 'coverage' (coverage for sample=T1, sample=N1) was killed by SLURM: out of memory (134 MB > 100 MB "
        "limit; raise the step's mem_mb) [SLURM job 2; log: .snakemake/slurm_logs/group_coverage_coverage/2.log]")


def test_from_the_events_an_sbatch_refusal_names_the_setting(tmp_path):
    (tmp_path / "logs" / "profile").mkdir(parents=True)
    (tmp_path / "logs" / "profile" / "config.yaml").write_text(
        "# Written by localgene for this job: config/slurm with /site/prof laid over it.\nexecutor: slurm\n")
    _events(tmp_path, {"event": "job_info", "jobid": 15, "rule": "access", "wildcards": {}, "log": ["logs/access.log"],
                       "local": False, "in_group": False},
            {"event": "job_error", "jobid": 15, "rule": "access", "message": "SLURM sbatch failed. The error message "
             "was 'sbatch: error: Batch job submission failed: Invalid partition name specified'.",
             "log": ["logs/access.log"], "aux": {}, "in_group": False})
    assert failure_message(tmp_path / "logs" / "snakemake.log", tmp_path) == (
        "step 'access' was not submitted: SLURM refused the job: Invalid partition name specified; set "
        "slurm_partition under default-resources in your site profile /site/prof/config.yaml")
