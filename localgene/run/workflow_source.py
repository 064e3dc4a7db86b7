"""Where the workflow (``Snakefile``, ``rules/``, ``config/``, ``envs/``) of this localgene is."""

from __future__ import annotations

from pathlib import Path

from localgene.errors import LocalgeneError
from localgene.settings import Environment

#: Where a built package (wheel) keeps the workflow: the repository's Snakefile, rules/, config/
#: and envs/ are mapped there at build time (pyproject.toml, [tool.hatch.build.targets.wheel]).
PACKAGED_WORKFLOW = "workflow_files"


def workflow_dir() -> Path:
    """The folder holding ``Snakefile``, ``rules/``, ``config/`` and ``envs/``.

    In order: ``$LOCALGENE_WORKFLOW_DIR``; the checkout this package runs from (an editable
    install); the copy shipped inside the installed package (``localgene/workflow_files/``).
    """
    from importlib import resources

    override = Environment.read().workflow_dir
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parents[2])  # localgene/run/ -> the checkout
    candidates.append(Path(str(resources.files("localgene") / PACKAGED_WORKFLOW)))
    for folder in candidates:
        if (folder / "Snakefile").is_file():
            return folder
    raise LocalgeneError(
        "cannot find the localgene Snakefile: this installation lacks localgene/"
        f"{PACKAGED_WORKFLOW}/ (reinstall localgene) or set LOCALGENE_WORKFLOW_DIR"
    )
