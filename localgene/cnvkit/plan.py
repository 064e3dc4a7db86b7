"""From a CNVkit job body to the plan the Snakemake workflow runs.

The plan names the samples (CNVkit's own rule: the BAM's basename up to its extension), keeps
the checked option argv of every step, and collects the warnings a job records. It is built
both by ``localgene run`` (before Snakemake starts, so a bad job never starts) and by the
``Snakefile`` itself (so ``snakemake --configfile job.json`` refuses the same jobs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from localgene.cnvkit.options import CheckedOptions, check_options
from localgene.errors import EnvironmentProblem, InputNotFound, InvalidRequest
from localgene.jobs.config_schema import ADDED_CONFIG_KEYS

_SAMPLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")
_BAM_SUFFIXES = (".bam", ".cram")


#: Config keys localgene adds to a job body when it runs it (not part of the request).
ADDED_KEYS = frozenset(ADDED_CONFIG_KEYS)


def sample_name(path: str) -> str:
    """CNVkit's sample ID for a BAM path (``cnvlib.core.fbase``), without importing CNVkit."""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    base = base.removesuffix(".gz")
    for ext in (".recal.bam", ".deduplicated.realign.bam"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base.rsplit(".", 1)[0] if "." in base else base


def local_path(location: str) -> str:
    """A plain local path for ``file://`` or plain paths (object storage is staged earlier)."""
    if location.startswith("file://"):
        return location[len("file://") :]
    return location


@dataclass
class Plan:
    """Everything the workflow needs to know about one job, checked."""

    experimental: dict[str, str]  # sample name -> BAM location
    controls: dict[str, str]
    ref: str
    bed: str
    annotation: str | None
    output_dir: str
    instance_id: str | None
    options: CheckedOptions
    warnings: list[str] = field(default_factory=list)

    @property
    def samples(self) -> dict[str, str]:
        return {**self.controls, **self.experimental}

    def argv(self, step: str) -> list[str]:
        return self.options.argv(step)

    def threads(self, step: str, cores: int) -> int:
        """Threads a step uses: its ``-p`` value (all cores when ``-p`` has no number)."""
        values = self.options.steps[step].values
        p = values.get("processes", 1)
        return max(1, min(cores, cores if p is None else int(p)))

    def destination(self, run_id: str) -> str:
        """Where results are delivered: ``output_dir/<run_id>/``."""
        return f"{self.output_dir.rstrip('/')}/{run_id}"

    def field_of(self, sample: str) -> str:
        """The job field that names a sample's BAM, e.g. ``control_inputs[1]``."""
        for fld, group in (("experimental_inputs", self.experimental), ("control_inputs", self.controls)):
            if sample in group:
                return f"{fld}[{list(group).index(sample)}]"
        raise KeyError(sample)

    def summary(self, config: dict[str, Any]) -> dict[str, Any]:
        """What a finished job records beside its results (``results/job.json``)."""
        from importlib.metadata import version

        import localgene

        return {
            "instance_id": self.instance_id,
            "request": {k: v for k, v in config.items() if k not in ADDED_KEYS},
            **self.to_json(),
            "versions": {
                "localgene": localgene.__version__,
                "cnvkit": version("cnvkit"),
                "snakemake": version("snakemake"),
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "experimental": self.experimental,
            "controls": self.controls,
            "steps": {step: self.argv(step) for step in self.options.steps},
            "male_reference": self.options.male_reference,
            "segment_method": self.options.segment_method,
            "warnings": self.warnings,
        }


def run_id_for(folder: Path) -> str:
    """A result-folder name for a run without an instance_id: its working directory's name."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", folder.resolve().name).lstrip("._-")
    return name or "run"


def _name_samples(body: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    seen: dict[str, str] = {}
    groups: dict[str, dict[str, str]] = {"experimental_inputs": {}, "control_inputs": {}}
    for fld, group in groups.items():
        for i, location in enumerate(body[fld]):
            where = f"{fld}[{i}]"
            base = location.rstrip("/").rsplit("/", 1)[-1]
            if not base.lower().endswith(_BAM_SUFFIXES):
                raise InvalidRequest(f"{location!r} is not a BAM file (expected a .bam name)", field=where)
            name = sample_name(location)
            if not _SAMPLE_NAME.match(name):
                raise InvalidRequest(
                    f"sample name {name!r} (from the file name) may hold only letters, digits "
                    f"and . _ + - and must start with a letter or digit",
                    field=where,
                )
            if name in seen:
                raise InvalidRequest(
                    f"sample name {name!r} is also used by {seen[name]}; CNVkit names samples "
                    f"by file name, so every BAM needs a distinct file name",
                    field=where,
                )
            seen[name] = where
            group[name] = location
    return groups["experimental_inputs"], groups["control_inputs"]


def build_plan(body: dict[str, Any], *, cores: int | None = None,
               options: CheckedOptions | None = None) -> Plan:
    """Check a (schema-valid) job body and plan its workflow; raises LocalgeneError.

    ``options``: the body's options as already checked (a snapshot read by a cluster job's
    Snakemake process); None checks them with CNVkit's parsers.
    """
    experimental, controls = _name_samples(body)
    has_annotate = bool(body.get("has_annotate"))
    annotation = body.get("annotation_file") or None
    if has_annotate and not annotation:
        raise InvalidRequest("is required when has_annotate is true", field="annotation_file")
    if options is None:
        options = check_options(body, cores=cores)
    plan = Plan(
        experimental=experimental,
        controls=controls,
        ref=body["ref"],
        bed=body["bed"],
        annotation=annotation if has_annotate else None,
        output_dir=body["output_dir"],
        instance_id=body.get("instance_id"),
        options=options,
        warnings=list(options.warnings),
    )
    if annotation and not has_annotate:
        plan.warnings.append("annotation_file is ignored because has_annotate is false")
    return plan


#: Probes started ahead of their check (:func:`start_dnacopy_probe`), by Rscript name.
_STARTED: dict[str, subprocess.Popen] = {}


def _dnacopy_argv(exe: str) -> list[str]:
    return [exe, "--vanilla", "-e", 'quit(status = if (requireNamespace("DNAcopy", quietly = TRUE)) 0 else 3)']


def start_dnacopy_probe(rscript: str = "Rscript") -> None:
    """Start R's DNAcopy probe (~0.25 s) now, beside other work; the check that needs it
    (:func:`check_environment`) takes its answer instead of starting one. Nothing happens if
    R is not installed (the check says so)."""
    exe = shutil.which(rscript)
    if exe is not None and rscript not in _STARTED:
        _STARTED[rscript] = subprocess.Popen(_dnacopy_argv(exe), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True)


@lru_cache(maxsize=4)
def _dnacopy_problem(rscript: str = "Rscript") -> str | None:
    exe = shutil.which(rscript)
    started = _STARTED.pop(rscript, None)
    if exe is None:
        if started is not None:
            started.kill()
            started.wait()
        return "R (Rscript) is not installed"
    if started is None:
        probe = subprocess.run(_dnacopy_argv(exe), capture_output=True, text=True, timeout=120)
    else:
        try:
            out, err = started.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            started.kill()
            out, err = started.communicate()
        probe = subprocess.CompletedProcess(started.args, started.returncode, out, err)
    if probe.returncode == 3:
        return "R is installed but its DNAcopy package is not"
    if probe.returncode != 0:
        return f"Rscript does not run ({probe.stderr.strip().splitlines()[-1:]})"
    return None


def check_environment(plan: Plan) -> None:
    """Refuse a job this machine cannot run, before anything starts."""
    if plan.options.segment_method == "cbs":
        problem = _dnacopy_problem()
        if problem:
            raise EnvironmentProblem(
                f"segment_conf: -m cbs (CNVkit's default segmentation) needs R with the "
                f"Bioconductor package DNAcopy, but {problem}. Install it (Debian/Ubuntu: "
                f"apt-get install r-base-core r-bioc-dnacopy; conda: bioconductor-dnacopy) "
                f"or choose another method in segment_conf, e.g. -m hmm or -m haar"
            )


def check_local_files(plan: Plan) -> None:
    """Every local input exists and is a readable file (object storage is checked elsewhere)."""
    fields: list[tuple[str, str]] = [("ref", plan.ref), ("bed", plan.bed)]
    if plan.annotation:
        fields.append(("annotation_file", plan.annotation))
    for group, fld in ((plan.experimental, "experimental_inputs"), (plan.controls, "control_inputs")):
        fields.extend((f"{fld}[{i}]", loc) for i, loc in enumerate(group.values()))
    for fld, location in fields:
        if "://" in location and not location.startswith("file://"):
            continue
        path = Path(local_path(location))
        if not path.exists():
            raise InputNotFound(f"{location} does not exist", field=fld)
        if not path.is_file():
            raise InvalidRequest(f"{location} is not a file", field=fld)
