"""The job status model: six states and the only transitions between them.

::

    LAUNCHING ──► RUNNING ──► FINISHED
        │  │         │  └───► FAILED
        │  └──► FAILED│
        │            ▼
        └──────► CANCELING ──► CANCELLED
                     └───────► FAILED

* ``LAUNCHING``: accepted and recorded; waiting for a slot, or staging inputs.
* ``RUNNING``: the job's Snakemake process runs.
* ``FINISHED`` / ``FAILED``: it ended on its own, with or without success.
* ``CANCELING``: a cancel was accepted (only LAUNCHING and RUNNING jobs can be cancelled); the
  job's processes are being stopped.
* ``CANCELLED``: every process of the job has exited after the cancel.

``CANCELING → FAILED`` is allowed on purpose: the job may fail on its own before the cancel
takes effect (a step errors while the signal is on its way), or localgene may be unable to stop
it cleanly. Recording FAILED with the real reason is more honest than calling it CANCELLED, and
the job still ends in a final state. ``CANCELING → FINISHED`` is not allowed: once a user has been
told the job is being cancelled, its outputs are not presented as a finished result.

FINISHED, FAILED and CANCELLED are final: no step of a job ever leaves them. A "transition" to
the same state is not a transition and is refused too. Two moves back to the queue (LAUNCHING)
are outside this table, because they start a new *attempt* of the job rather than continue the
current one, and only the store makes them (docs/jobs.md, "Resume and retry"):

* :data:`RESUMABLE` → LAUNCHING: crash recovery re-queues a job whose runner died, to be
  resumed in its own folder (at most ``LOCALGENE_MAX_ATTEMPTS`` attempts);
* :data:`RETRYABLE` → LAUNCHING: ``localgene retry`` (or ``POST …/retry``) runs a FAILED or
  CANCELLED job again from where it stopped.
"""

from __future__ import annotations

from enum import Enum
from typing import Mapping

from localgene.errors import InvalidRequest, StateConflict


class Status(str, Enum):
    """A job's state. The value is the spelling used in the API and the database."""

    LAUNCHING = "LAUNCHING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:  # "RUNNING", not "Status.RUNNING"
        return self.value

    @property
    def is_final(self) -> bool:
        return self in FINAL


#: States that never change again.
FINAL: frozenset[Status] = frozenset({Status.FINISHED, Status.FAILED, Status.CANCELLED})
#: States in which the job may have (or be about to have) running processes.
ACTIVE: frozenset[Status] = frozenset({Status.LAUNCHING, Status.RUNNING, Status.CANCELING})
#: States from which a cancel is accepted.
CANCELLABLE: frozenset[Status] = frozenset({Status.LAUNCHING, Status.RUNNING})

#: States a crashed job may be re-queued from (its runner died; crash recovery resumes it).
RESUMABLE: frozenset[Status] = frozenset({Status.LAUNCHING, Status.RUNNING})
#: Final states a user may retry from (FINISHED is a result, not something to redo).
RETRYABLE: frozenset[Status] = frozenset({Status.FAILED, Status.CANCELLED})

#: The transition table: state -> the states it may move to. Finals map to nothing.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.LAUNCHING: frozenset({Status.RUNNING, Status.FAILED, Status.CANCELING}),
    Status.RUNNING: frozenset({Status.FINISHED, Status.FAILED, Status.CANCELING}),
    Status.CANCELING: frozenset({Status.CANCELLED, Status.FAILED}),
    Status.FINISHED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}

#: Order used by listings of states (statistics, docs).
ORDER: tuple[Status, ...] = (
    Status.LAUNCHING,
    Status.RUNNING,
    Status.FINISHED,
    Status.FAILED,
    Status.CANCELING,
    Status.CANCELLED,
)


def parse_status(value: str | Status) -> Status:
    """``"RUNNING"`` → :attr:`Status.RUNNING`; anything else raises InvalidRequest."""
    if isinstance(value, Status):
        return value
    try:
        return Status(value)
    except ValueError:
        names = ", ".join(s.value for s in ORDER)
        raise InvalidRequest(f"unknown status {value!r}; one of {names}", field="status") from None


def _names(states: frozenset[Status]) -> str:
    ordered = [s.value for s in ORDER if s in states]
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " or " + ordered[-1]


def check_retry(old: Status | str) -> None:
    """Raise :class:`~localgene.errors.StateConflict` unless a job in ``old`` may be retried."""
    old = parse_status(old)
    if old not in RETRYABLE:
        raise StateConflict(f"job is {old}; only {_names(RETRYABLE)} jobs can be retried")


def check_transition(old: Status | str, new: Status | str) -> None:
    """Raise :class:`~localgene.errors.StateConflict` unless ``old → new`` is allowed."""
    old, new = parse_status(old), parse_status(new)
    if new in TRANSITIONS[old]:
        return
    if new is Status.CANCELING:
        already = "already " if old is Status.CANCELING else ""
        raise StateConflict(f"job is {already}{old}; only {_names(CANCELLABLE)} jobs can be cancelled")
    if old in FINAL:
        raise StateConflict(f"job is {old}, a final state; it cannot become {new}")
    if old is new:
        raise StateConflict(f"job is already {old}")
    raise StateConflict(f"job is {old}; it cannot become {new} (it can become {_names(TRANSITIONS[old])})")
