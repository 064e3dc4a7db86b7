"""Checking the per-step CNVkit option strings of a job (``target_conf`` … ``genemetrics_conf``).

Each string is split with :func:`shlex.split` and parsed by *CNVkit's own* argument parser for
that sub-command (``cnvlib.commands.AP_subparsers``, or the same parsers rebuilt without importing
CNVkit from the description generated for the installed CNVkit: :mod:`localgene.cnvkit.parser_spec`),
so the set of accepted options, their types and their choices always follow the installed CNVkit. On top of that, localgene refuses what it
cannot let a user decide inside a job:

* options that name an output file or folder (``-o``, ``-d/--dataframe``, ``--purity-output``);
* options whose value is a file that localgene supplies itself (``--annotate``, ``-g/--access``,
  ``-f/--fasta``, ``-r/--reference``, ``-s/--segment``, …) or that lies outside the job
  (``--vcf``, ``--purity-file``) or is a program to execute (``--rscript-path``);
* any value that looks like a path, any positional (file) argument, and shell syntax;
* combinations that CNVkit would reject only after running (``segment -m hmm -t 0.001``,
  ``call --filter ci`` on plain segments, ``genemetrics -a 2``).

Options that CNVkit accepts but silently ignores, and choices that disagree between steps (a
male reference ``-y`` in one step but not another), are kept and reported as warnings.
"""

from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NoReturn

from localgene.cnvkit import parser_spec
from localgene.errors import InvalidRequest, UnsupportedOption
from localgene.jobs.bodies import CONF_FIELD_OF_STEP as CONF_FIELD_OF_STEP_IN_BODY

#: The CNVkit steps a job configures, in workflow order, each with its option field.
STEPS: tuple[str, ...] = (
    "target",
    "antitarget",
    "coverage",
    "reference",
    "fix",
    "segment",
    "call",
    "genemetrics",
    "sex",
)
#: step -> its option field, read from the body model (:data:`localgene.jobs.bodies.CONF_FIELD_OF_STEP`).
CONF_FIELD_OF_STEP: dict[str, str] = {step: CONF_FIELD_OF_STEP_IN_BODY[step] for step in STEPS}

#: Placeholder file arguments given to the parser so that only the user's options are checked.
_PLACEHOLDERS: dict[str, list[str]] = {
    "target": ["baits.bed"],
    "antitarget": ["targets.bed"],
    "coverage": ["sample.bam", "targets.bed"],
    "reference": ["a.targetcoverage.cnn"],
    "fix": ["a.targetcoverage.cnn", "a.antitargetcoverage.cnn"],
    "segment": ["a.cnr"],
    "call": ["a.cns"],
    "genemetrics": ["a.cnr"],
    "sex": ["a.cnn"],
}

#: Options whose value localgene supplies itself: dest -> which job field decides it.
_MANAGED: dict[tuple[str, str], str] = {
    ("target", "annotate"): "has_annotate and annotation_file",
    ("antitarget", "access"): "ref (localgene runs `cnvkit.py access` on it)",
    ("coverage", "fasta"): "ref",
    ("reference", "fasta"): "ref",
    ("reference", "targets"): "bed (via the target step)",
    ("reference", "antitargets"): "bed (via the antitarget step)",
    ("fix", "reference"): "control_inputs (via the reference step)",
    ("genemetrics", "segment"): "the segment step of the same sample",
}
#: Options that would write files: localgene names every output inside the job folder.
_OUTPUT_DESTS = {"output", "dataframe", "purity_output"}
#: Options whose value is a file outside the job, or a program to run.
_FOREIGN_FILE_DESTS = {"vcf", "purity_file", "rscript_path"}

#: Characters that only make sense to a shell; refused anywhere in an option string.
_SHELL_CHARS = set(";|&$`<>(){}*?[]!\\\n\r\x00")

_HMM_METHODS = {"hmm", "hmm-tumor", "hmm-germline"}


class _ParserError(Exception):
    pass


@dataclass(frozen=True)
class StepOptions:
    """One step's checked options: the argv to append, and what they mean."""

    step: str
    argv: list[str]
    values: dict[str, Any]  # the parsed namespace (defaults included)
    given: frozenset[str]  # dests the user set to a non-default value


@dataclass
class CheckedOptions:
    """All nine steps' options, checked together, with cross-step warnings."""

    steps: dict[str, StepOptions]
    warnings: list[str] = field(default_factory=list)

    def argv(self, step: str) -> list[str]:
        return list(self.steps[step].argv)

    def value(self, step: str, dest: str) -> Any:
        return self.steps[step].values[dest]

    @property
    def male_reference(self) -> bool:
        """Whether the reference is built as male (``-y``); plots follow it."""
        return bool(self.value("reference", "male_reference"))

    @property
    def segment_method(self) -> str:
        return str(self.value("segment", "method"))


@lru_cache(maxsize=1)
def cnvkit_parsers() -> dict[str, argparse.ArgumentParser]:
    """CNVkit's sub-command parsers, keyed by step name: rebuilt from the description shipped
    for the installed CNVkit (:mod:`localgene.cnvkit.parser_spec`, no import), else CNVkit's own
    (``cnvlib.commands``, an import of 2–4 s)."""
    shipped = parser_spec.shipped_parsers()
    if shipped is not None:
        return shipped
    from cnvlib import commands  # heavy import, only for a CNVkit the description does not match

    choices = commands.AP_subparsers.choices
    return {step: choices[step] for step in parser_spec.PARSED_STEPS}


def _parse(step: str, tokens: list[str]) -> argparse.Namespace:
    parser = cnvkit_parsers()[step]

    def fail(message: str) -> NoReturn:
        raise _ParserError(message)

    saved = parser.error, parser.exit, parser.print_help
    parser.error = fail  # type: ignore[method-assign]  # argparse has no hook for this: its exits are swapped for this parse, restored below
    parser.exit = lambda status=0, message=None: fail(message or "not an option for a job")  # type: ignore[method-assign]  # argparse has no hook for this: its exits are swapped for this parse, restored below
    parser.print_help = lambda file=None: fail("-h/--help is not an option for a job")  # type: ignore[method-assign]  # argparse has no hook for this: its exits are swapped for this parse, restored below
    try:
        return parser.parse_args(_PLACEHOLDERS[step] + tokens)
    finally:
        parser.error, parser.exit, parser.print_help = saved  # type: ignore[method-assign]  # (see above)


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.startswith(("~", ".")) or os.sep in value


def _flag(action: argparse.Action) -> str:
    return "/".join(action.option_strings)


def split_options(step: str, text: str | None) -> list[str]:
    """Split one option string with shlex, refusing shell syntax. Names the job field."""
    conf = CONF_FIELD_OF_STEP[step]
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidRequest("must be a string of CNVkit options", field=conf)
    bad = sorted({c for c in text if c in _SHELL_CHARS})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise UnsupportedOption(
            f"contains shell syntax ({shown}); give plain CNVkit options such as "
            f"'--flag value' (nothing is ever run through a shell)",
            field=conf,
        )
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InvalidRequest(f"cannot be split into options: {exc}", field=conf) from None


def check_step(step: str, text: str | None) -> StepOptions:
    """Check one step's option string against CNVkit's parser and localgene's rules."""
    conf = CONF_FIELD_OF_STEP[step]
    tokens = split_options(step, text)
    parser = cnvkit_parsers()[step]
    try:
        defaults = vars(_parse(step, []))
        values = vars(_parse(step, tokens))
    except _ParserError as exc:
        message = str(exc).strip()
        hint = ""
        if message.startswith("unrecognized arguments:"):
            stray = [t for t in message.split(":", 1)[1].split() if not t.startswith("-")]
            if stray:
                hint = " (localgene passes each step's input files itself; give options only)"
        if "expected one argument" in message:
            hint = " (a negative value needs '=', e.g. -t=-1.1,-0.4,0.3,0.7)"
        raise UnsupportedOption(
            f"not accepted by `cnvkit.py {step}`: {message}{hint}", field=conf
        ) from None

    given = frozenset(d for d, v in values.items() if v != defaults.get(d))
    actions = {a.dest: a for a in parser._actions}
    for dest in sorted(given):
        action = actions.get(dest)
        if action is None:
            continue
        if not action.option_strings:
            raise UnsupportedOption(
                f"`cnvkit.py {step}` takes no file arguments here: localgene passes each "
                f"step's input files itself (got {values[dest]!r})",
                field=conf,
            )
        flag = _flag(action)
        if dest in _OUTPUT_DESTS:
            raise UnsupportedOption(
                f"{flag} names an output file; localgene writes every output inside the "
                f"job's own folder and delivers it to output_dir",
                field=conf,
            )
        if (step, dest) in _MANAGED:
            raise UnsupportedOption(
                f"{flag} is set by localgene from {_MANAGED[(step, dest)]}; remove it",
                field=conf,
            )
        if dest in _FOREIGN_FILE_DESTS:
            raise UnsupportedOption(
                f"{flag} names a file or program outside the job, which localgene does not allow",
                field=conf,
            )
        value = values[dest]
        if isinstance(value, str) and _looks_like_path(value):
            raise UnsupportedOption(
                f"{flag} {value!r} looks like a path; no option may name a file outside the job",
                field=conf,
            )
    _check_step_semantics(step, values, given, conf)
    return StepOptions(step=step, argv=tokens, values=values, given=given)


def _check_step_semantics(step: str, v: dict[str, Any], given: frozenset[str], conf: str) -> None:
    """Combinations CNVkit's parser accepts but the command itself rejects at run time."""
    if step == "segment" and "threshold" in given:
        t = v["threshold"]
        if v["method"] in _HMM_METHODS and int(t) < 2:
            raise UnsupportedOption(
                f"-t {t:g} with -m {v['method']}: for HMM methods -t is a smoothing window "
                f"in bins (an integer of at least 2), not a p-value; CNVkit would fail with "
                f"'width must be either a fraction between 0 and 1 or an integer greater than 1'",
                field=conf,
            )
        if v["method"] in {"cbs", "haar"} and not 0 < t < 1:
            raise UnsupportedOption(
                f"-t {t:g} with -m {v['method']}: -t is a significance threshold (p-value) "
                f"and must be between 0 and 1",
                field=conf,
            )
    if step == "call":
        pre_cn = [f for f in v["filters"] if f in {"ci", "sem"}]
        if pre_cn:
            raise UnsupportedOption(
                f"--filter {pre_cn[0]} needs segment confidence intervals (segmetrics columns), "
                f"which this workflow's segment step does not compute; use --filter ampdel or cn",
                field=conf,
            )
        if v["method"] == "none" and (v["filters"] or "cn" in v["merges"]):
            raise UnsupportedOption(
                "--filter/--merge cn need copy numbers, which -m none does not call", field=conf
            )
    if step == "genemetrics" and "alpha" in given and not 0.0 < v["alpha"] <= 1.0:
        raise UnsupportedOption(f"-a/--alpha {v['alpha']:g} must be between 0 and 1", field=conf)
    for dest in ("processes",):
        if dest in given and v[dest] is not None and v[dest] < 1:
            raise UnsupportedOption("-p/--processes must be at least 1", field=conf)


def check_options(body: dict[str, Any], *, cores: int | None = None) -> CheckedOptions:
    """Check every ``*_conf`` field of a job body; refuse the first bad one, warn on the rest."""
    steps = {step: check_step(step, body.get(CONF_FIELD_OF_STEP[step])) for step in STEPS}
    checked = CheckedOptions(steps=steps)
    checked.warnings.extend(cross_step_warnings(checked, cores or os.cpu_count() or 1))
    return checked


def cross_step_warnings(c: CheckedOptions, cores: int) -> list[str]:
    warnings: list[str] = []
    s = c.steps

    # The male-reference choice must agree wherever CNVkit reads it.
    y_steps = ("reference", "call", "genemetrics", "sex")
    with_y = [CONF_FIELD_OF_STEP[st] for st in y_steps if s[st].values["male_reference"]]
    if with_y and len(with_y) < len(y_steps):
        without_y = [CONF_FIELD_OF_STEP[st] for st in y_steps if CONF_FIELD_OF_STEP[st] not in with_y]
        warnings.append(
            f"-y (male reference) is set in {', '.join(with_y)} but not in "
            f"{', '.join(without_y)}: CNVkit needs the same choice in every step, otherwise "
            f"chrX/chrY copy numbers and inferred sex can be wrong"
        )
    parx = {CONF_FIELD_OF_STEP[st]: s[st].values.get("diploid_parx_genome") for st in (*y_steps, "fix")}
    if len({v for v in parx.values()}) > 1:
        warnings.append(
            "--diploid-parx-genome differs between steps ("
            + ", ".join(f"{k}={v}" for k, v in parx.items())
            + "); use the same value everywhere"
        )
    for dest, flag in (("do_rmask", "--no-rmask"), ("do_gc", "--no-gc"), ("do_edge", "--no-edge")):
        if s["reference"].values[dest] != s["fix"].values[dest]:
            where = "reference_conf" if not s["reference"].values[dest] else "fix_conf"
            warnings.append(
                f"{flag} is given in {where} only: the reference and fix steps should apply "
                f"the same bias corrections"
            )
    if s["fix"].values["cluster"] and not s["reference"].values["cluster"]:
        warnings.append("fix_conf has -c/--cluster but reference_conf does not build clusters")

    gm = s["genemetrics"]
    if not gm.values["interval_stats"]:
        inert = [f for d, f in (("alpha", "-a/--alpha"), ("bootstrap", "-b/--bootstrap")) if d in gm.given]
        if inert:
            warnings.append(
                f"genemetrics_conf: {' and '.join(inert)} have no effect without --ci or --pi"
            )
    call = s["call"].values
    if "center_at" in s["call"].given and call["center_at"] == 0:
        warnings.append(
            "call_conf: --center-at 0 has no effect (CNVkit treats 0 as unset)"
            + (f"; --center {call['center']} applies" if call["center"] else "")
        )
    elif call["center_at"] and call["center"]:
        warnings.append("call_conf: --center-at overrides --center; --center is ignored")
    if call["method"] != "threshold" and "thresholds" in s["call"].given:
        warnings.append(f"call_conf: -t/--thresholds are ignored with -m {call['method']}")

    seg = s["segment"].values
    if seg["method"] == "none" and "threshold" in s["segment"].given:
        warnings.append("segment_conf: -t is ignored with -m none")
    if seg["smooth_cbs"] and seg["method"] != "cbs":
        warnings.append(f"segment_conf: --smooth-cbs has no effect with -m {seg['method']}")
    if seg["drop_low_coverage"]:
        warnings.append(
            "segment_conf: --drop-low-coverage also removes bins with no coverage at all, so "
            "homozygous (two-copy) deletions cannot be called"
        )
    for step in ("coverage", "segment"):
        p = s[step].values.get("processes")
        if p is not None and p > cores:
            warnings.append(
                f"{CONF_FIELD_OF_STEP[step]}: -p {p} is more than this machine's {cores} cores; "
                f"CNVkit uses at most {cores}"
            )
    return warnings
