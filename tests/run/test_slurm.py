"""localgene.run.slurm without a cluster: the choices made from a cluster's facts, the watch for SLURM
jobs whose end Snakemake never reads, sbatch refusals, and the plugin's account-guess noise.
(The same against the real test cluster: tests/hpc/test_slurm_as_users_meet_it.py.)"""

from __future__ import annotations

import pytest

from localgene.errors import InvalidRequest
from localgene.run import slurm
from localgene.run.execution import resolve

NO_ACCOUNTING = slurm.ClusterFacts(reachable=True, accounting=False,
                                   accounting_error="Slurm accounting storage is disabled",
                                   partitions=("debug", "long"), default_partition="debug", min_job_age=300)
ACCOUNTING = slurm.ClusterFacts(reachable=True, accounting=True, partitions=("short",), default_partition="short",
                                accounts_enforced=True, min_job_age=300)


def test_without_accounting_squeue_and_the_default_partition_are_chosen():
    choice = slurm.choose({"default-resources": {"mem_mb": 1024}}, NO_ACCOUNTING, "P")
    assert choice.profile["slurm-status-command"] == "squeue"
    assert choice.profile["default-resources"] == {"mem_mb": 1024, "slurm_partition": "debug"}
    assert choice.line.startswith("localgene: SLURM: controller answers")
    assert "accounting: none (Slurm accounting storage is disabled)" in choice.line
    assert "status command: squeue (no accounting)" in choice.line
    assert choice.quiet_account_guess


def test_with_accounting_sacct_is_chosen_and_the_profile_wins():
    assert slurm.choose({}, ACCOUNTING, "P").profile["slurm-status-command"] == "sacct"
    mine = slurm.choose({"slurm-status-command": "squeue", "default-resources": {"slurm_partition": "short"}},
                        ACCOUNTING, "P")
    assert mine.profile["slurm-status-command"] == "squeue" and "(set in the profile)" in mine.line
    assert "enforces accounts" in mine.line


def test_squeue_needs_minjobage_of_three_first_pauses():
    short = slurm.ClusterFacts(**{**NO_ACCOUNTING.__dict__, "min_job_age": 60})
    choice = slurm.choose({}, short, "P")
    # the plugin falls back to sacct (which waits forever here) unless MinJobAge >= 3 x the pause
    assert choice.profile["slurm-init-seconds-before-status-checks"] == 20
    assert slurm.choose({"slurm-init-seconds-before-status-checks": 5}, short, "P").profile[
        "slurm-init-seconds-before-status-checks"] == 5


@pytest.mark.parametrize("resources, words", [
    ({"slurm_account": "lab"}, ["slurm_account is set ('lab') in my/profile", "no accounting database",
                                "remove slurm_account"]),
    ({"slurm_partition": "gpu"}, ["slurm_partition 'gpu' (in my/profile) is not a partition of this cluster",
                                  "debug, long"]),
])
def test_settings_the_cluster_cannot_honour_are_refused_before_submitting(resources, words):
    with pytest.raises(slurm.SlurmUnavailable) as caught:
        slurm.choose({"default-resources": resources}, NO_ACCOUNTING, "my/profile")
    for word in words:
        assert word in str(caught.value)


def test_no_default_partition_names_the_setting():
    facts = slurm.ClusterFacts(reachable=True, partitions=("a", "b"))
    with pytest.raises(slurm.SlurmUnavailable, match="set slurm_partition under default-resources in P"):
        slurm.choose({}, facts, "P")


def test_facts_round_trip_through_json():
    assert slurm.ClusterFacts.from_json(NO_ACCOUNTING.to_json()) == NO_ACCOUNTING


@pytest.mark.parametrize("text, setting", [
    ("SLURM sbatch failed. The error message was 'sbatch: error: Batch job submission failed: Invalid account "
     "or account/partition combination specified'.", "slurm_account"),
    ("SLURM sbatch failed. The error message was 'sbatch: error: Batch job submission failed: Invalid partition "
     "name specified'.", "slurm_partition"),
    ("sbatch: error: No partition specified or system default partition", "slurm_partition"),
])
def test_sbatch_refusals_name_the_setting_and_the_profile(text, setting):
    said = slurm.refusal(text, "your site profile /x/config.yaml")
    assert said.startswith("SLURM refused the job: ") and f"set {setting} under default-resources" in said
    assert said.endswith("in your site profile /x/config.yaml")
    assert slurm.refusal("sbatch: error: something else entirely", "P") is None


def test_the_plugins_account_guess_is_recognised_and_nothing_else():
    for line in ("No SLURM account given, trying to guess.",
                 "No account was given, not able to get a SLURM account via sacct: sacct: invalid option -- '1'",
                 "Unable to guess SLURM account. Trying to proceed without."):
        assert slurm.is_account_guess_noise(line + "\n")
    assert not slurm.is_account_guess_noise("Job 5 has been submitted with SLURM jobid 29 (log: x).")


# The run's events as localgene's logger plugin writes them (docs/events.md)
EVENTS = [
    {"event": "executor_run", "run_id": "run-1"},
    {"event": "executor_job_submitted", "jobid": "5", "external_jobid": "29",
     "log": "/j/.snakemake/slurm_logs/rule_coverage/N2_target/29.log"},
    {"event": "executor_job_submitted", "jobid": "6", "external_jobid": "30",
     "log": "/j/.snakemake/slurm_logs/rule_access/30.log"},
]


def finished(jobid):
    return {"event": "job_finished", "jobid": jobid}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _watch(states, clock, bound=100.0):
    lost = []
    watch = slurm.LostJobWatch(bound=bound, on_lost=lost.append, query=lambda run_id: states(run_id), clock=clock)
    for event in EVENTS:
        watch.feed(event)
    return watch, lost


def test_a_job_gone_from_squeue_fails_the_run_after_the_bound_naming_step_and_id():
    clock = Clock()
    watch, lost = _watch(lambda run_id: {"29": "RUNNING"} if run_id == "run-1" else {}, clock)
    watch.feed(finished(6))                              # 30 ended and Snakemake read it
    assert watch.check() is None
    clock.now = 1000
    assert watch.check() is None                         # 29 still running: no bound applies
    watch.query = lambda run_id: {}                      # 29 vanished from squeue
    assert watch.check() is None
    clock.now = 1099
    assert watch.check() is None and not lost
    clock.now = 1101
    message = watch.check()
    assert lost == [message]
    assert message.startswith("step 'coverage' (N2_target): SLURM job 29 is no longer queued or running "
                              "(it left squeue)")
    assert "gave up after 100 s (LOCALGENE_SLURM_LOST_SECONDS)" in message


def test_a_final_state_snakemake_reads_in_time_is_no_loss():
    clock = Clock()
    watch, lost = _watch(lambda run_id: {"29": "CANCELLED", "30": "COMPLETED"}, clock)
    watch.check()
    clock.now = 50
    watch.feed({"event": "job_error", "jobid": 5, "rule": "coverage", "message": "SLURM-job '29' failed, SLURM "
                "status is: 'CANCELLED'", "log": [], "aux": {"external_jobid": "29"}, "in_group": False})
    watch.feed(finished(6))                              # the plugin reported 29's failure, 30 ended
    clock.now = 500
    assert watch.check() is None and not lost and not watch.jobs


def test_a_final_state_never_read_and_a_silent_squeue_are_losses():
    clock = Clock()
    watch, lost = _watch(lambda run_id: {"29": "COMPLETED", "30": "RUNNING"}, clock)
    watch.check()
    clock.now = 101
    assert "squeue shows it COMPLETED" in watch.check()
    clock2 = Clock()
    watch2, _ = _watch(lambda run_id: None, clock2)
    watch2.check()
    clock2.now = 101
    assert "squeue stopped answering" in watch2.check()


def test_a_group_job_ends_when_all_its_steps_finished():
    clock = Clock()
    watch = slurm.LostJobWatch(bound=10, on_lost=lambda m: None, query=lambda r: {}, clock=clock)
    for event in [{"event": "executor_run", "run_id": "r"}, {"event": "group_info", "group": "sample", "jobs": [21, 22]},
                  {"event": "job_info", "jobid": 21, "rule": "fix", "wildcards": {"sample": "T1"}, "log": [],
                   "local": False, "in_group": True},
                  {"event": "executor_job_submitted", "jobid": "9f0c-uuid", "external_jobid": "40",
                   "log": "/j/.snakemake/slurm_logs/group_sample/T1/40.log"}]:
        watch.feed(event)
    assert watch.jobs["40"].members == {"21", "22"} and watch.jobs["40"].step == "group 'sample'"
    watch.feed(finished(21))
    assert "40" in watch.jobs
    watch.feed(finished(22))
    assert not watch.jobs


@pytest.mark.parametrize("value", ["0", "abc", "-5", "1e9"])
def test_a_bad_lost_bound_fails_at_once_naming_the_variable(value, tmp_path):
    with pytest.raises(InvalidRequest, match="LOCALGENE_SLURM_LOST_SECONDS: must be a number of seconds"):
        resolve("slurm", env={"LOCALGENE_SLURM_LOST_SECONDS": value})
    assert resolve("slurm", env={"LOCALGENE_SLURM_LOST_SECONDS": "42"}).lost_after == 42.0
    assert resolve("slurm", env={}).lost_after == slurm.DEFAULT_LOST_SECONDS


def test_an_unreachable_cluster_is_said_in_one_sentence(monkeypatch):
    monkeypatch.setattr(slurm.shutil, "which", lambda name: None)
    assert "no sinfo on PATH" in slurm.reachable()
    monkeypatch.setattr(slurm.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(slurm, "_run", lambda argv: (1, "", "sinfo: error: Unable to contact slurm controller "
                                                                 "(connect failure)\n"))
    said = slurm.reachable()
    assert said.startswith("the SLURM controller does not answer: sinfo: error: Unable to contact slurm controller")
    assert "is slurmctld running" in said
    facts = slurm.probe()
    assert not facts.reachable and facts.problem == said
