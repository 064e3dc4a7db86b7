"""The six-state job model: every allowed and every forbidden transition."""

from __future__ import annotations

import itertools

import pytest

from localgene.errors import InvalidRequest, StateConflict
from localgene.jobs.status import (
    CANCELLABLE,
    FINAL,
    TRANSITIONS,
    Status,
    check_transition,
    parse_status,
)

L, R, FI, FA, CG, CD = (
    Status.LAUNCHING,
    Status.RUNNING,
    Status.FINISHED,
    Status.FAILED,
    Status.CANCELING,
    Status.CANCELLED,
)

# Written out from the spec and the issue, independently of status.TRANSITIONS.
ALLOWED = {
    (L, R), (L, FA), (L, CG),
    (R, FI), (R, FA), (R, CG),
    (CG, CD), (CG, FA),
}  # fmt: skip
ALL_PAIRS = list(itertools.product(Status, Status))


def test_spellings_are_the_services():
    assert [s.value for s in Status] == [
        "LAUNCHING", "RUNNING", "FINISHED", "FAILED", "CANCELING", "CANCELLED",
    ]  # fmt: skip
    assert str(Status.CANCELING) == "CANCELING"
    assert FINAL == {FI, FA, CD}
    assert CANCELLABLE == {L, R}


def test_table_matches_the_spec():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize("old,new", sorted(ALLOWED, key=str))
def test_allowed(old, new):
    check_transition(old, new)  # does not raise
    check_transition(old.value, new.value)  # strings work too


@pytest.mark.parametrize("old,new", [p for p in ALL_PAIRS if p not in ALLOWED])
def test_forbidden(old, new):
    with pytest.raises(StateConflict) as info:
        check_transition(old, new)
    err = info.value
    assert err.http_status == 409 and err.code == "DLI.0409"
    assert old.value in str(err)
    assert "\n" not in str(err)


@pytest.mark.parametrize("final", [FI, FA, CD])
def test_finals_never_change(final):
    for new in Status:
        with pytest.raises(StateConflict):
            check_transition(final, new)


@pytest.mark.parametrize("old", [FI, FA, CD, CG])
def test_cancel_message(old):
    with pytest.raises(StateConflict) as info:
        check_transition(old, CG)
    assert "only LAUNCHING or RUNNING jobs can be cancelled" in str(info.value)
    assert str(info.value).startswith(f"job is {'already ' if old is CG else ''}{old.value};")


def test_cancel_finished_exact_message():
    with pytest.raises(
        StateConflict, match=r"^job is FINISHED; only LAUNCHING or RUNNING jobs can be cancelled$"
    ):
        check_transition("FINISHED", "CANCELING")


def test_parse_status_refuses_unknown():
    assert parse_status("RUNNING") is R
    for bad in ("running", "CANCELED", "DELETED", ""):
        with pytest.raises(InvalidRequest, match="unknown status"):
            parse_status(bad)
