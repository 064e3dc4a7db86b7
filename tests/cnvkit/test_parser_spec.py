"""CNVkit's parsers rebuilt from the shipped description accept, refuse and parse exactly as
CNVkit's own, and a job's options are checked without importing CNVkit."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys

import pytest

from localgene.cnvkit import options, parser_spec


@pytest.fixture(scope="module")
def real_parsers() -> dict[str, argparse.ArgumentParser]:
    from cnvlib import commands

    return {step: commands.AP_subparsers.choices[step] for step in parser_spec.PARSED_STEPS}


@pytest.fixture(scope="module")
def rebuilt() -> dict[str, argparse.ArgumentParser]:
    parsers = parser_spec.shipped_parsers()
    assert parsers is not None, "the shipped description does not match the installed CNVkit"
    return parsers


def outcome(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str, object]:
    """("ok", namespace as a dict) or ("error", argparse's message) for one parse."""
    class Refused(Exception):
        pass

    def error(message: str):
        raise Refused(message)

    saved = parser.error
    parser.error = error  # type: ignore[method-assign]
    try:  # CNVkit's set_defaults(func=_cmd_STEP) is its command, not an option: left out
        with contextlib.redirect_stdout(io.StringIO()):
            parsed = parser.parse_args(argv)
        return "ok", {k: v for k, v in vars(parsed).items() if k != "func"}
    except Refused as exc:
        return "error", str(exc)
    except SystemExit as exc:  # -h/--help: the help text differs only in its program name
        return "exit", exc.code
    finally:
        parser.error = saved  # type: ignore[method-assign]


def test_the_shipped_description_is_the_installed_cnvkits():
    assert parser_spec.main(["--check"]) == 0, "regenerate: python -m localgene.cnvkit.parser_spec"


@pytest.mark.parametrize("step", parser_spec.PARSED_STEPS)
def test_each_rebuilt_parser_describes_as_cnvkits(step, real_parsers, rebuilt):
    assert parser_spec.describe_parser(rebuilt[step]) == parser_spec.describe_parser(real_parsers[step])


def _battery(parser: argparse.ArgumentParser) -> list[list[str]]:
    """Option lists for every argument: good and bad values, abbreviations, repeats."""
    lines: list[list[str]] = [[], ["--no-such-option"], ["-Z", "1"], ["stray"]]
    for action in parser._actions:
        for flag in action.option_strings:
            if action.nargs == 0:
                lines += [[flag], [flag, "extra"]]
                continue
            samples = [str(c) for c in action.choices] if action.choices else []
            samples += ["1", "0.5", "-1", "abc", "2,3", "-1.1,-0.4,0.3,0.7", "0", ""]
            lines += [[flag, value] for value in samples]
            lines += [[flag], [f"{flag}=0.25"], [flag, "1", flag, "2"]]
            if flag.startswith("--") and len(flag) > 5:
                lines.append([flag[:5], "1"])  # an abbreviation (ambiguous or not)
    return lines


@pytest.mark.parametrize("step", parser_spec.PARSED_STEPS)
def test_each_rebuilt_parser_parses_and_refuses_as_cnvkits(step, real_parsers, rebuilt):
    positionals = [a for a in real_parsers[step]._actions if not a.option_strings]
    files = [f"in{i}.cnn" for i in range(len(positionals))]
    lines = _battery(real_parsers[step])
    assert len(lines) > 20
    for line in lines:
        argv = files + line
        assert outcome(rebuilt[step], argv) == outcome(real_parsers[step], argv), argv


def test_job_options_are_checked_without_importing_cnvkit(tmp_path):
    body = {f: "" for f in options.CONF_FIELD_OF_STEP.values()}
    body.update(segment_conf="-m cbs -t 0.001", call_conf="-m threshold -t=-1.1,-0.4,0.3,0.7 --ploidy 3",
                target_conf="--split -a 267", coverage_conf="-q 10")
    code = (
        "import json, sys\n"
        "from localgene.cnvkit.options import check_options\n"
        f"checked = check_options(json.loads({json.dumps(json.dumps(body))}), cores=2)\n"
        "print(json.dumps({'cnvlib': any(m.startswith('cnvlib') for m in sys.modules),\n"
        "                  'thresholds': checked.value('call', 'thresholds'),\n"
        "                  'ploidy': checked.value('call', 'ploidy')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    said = json.loads(out.stdout)
    assert said == {"cnvlib": False, "thresholds": [-1.1, -0.4, 0.3, 0.7], "ploidy": 3.0}


def test_a_description_of_another_cnvkit_is_not_used(monkeypatch):
    installed = parser_spec.installed_cnvkit()
    assert installed is not None
    monkeypatch.setattr(parser_spec, "installed_cnvkit", lambda: dict(installed, version="0.0.1"))
    parser_spec.shipped_parsers.cache_clear()
    options.cnvkit_parsers.cache_clear()
    try:
        assert parser_spec.shipped_parsers() is None
        from cnvlib import commands

        assert options.cnvkit_parsers()["call"] is commands.AP_subparsers.choices["call"]
    finally:
        parser_spec.shipped_parsers.cache_clear()
        options.cnvkit_parsers.cache_clear()


def test_an_argument_type_that_is_not_self_contained_is_refused():
    """Only a plain function using builtins and argparse is copied; anything else is refused,
    so that the description is never generated from a parser it would not rebuild."""
    threshold = 0.5

    def closure(text):
        return float(text) + threshold

    def uses_a_module(text):
        return json.loads(text)

    for kind in (closure, uses_a_module, lambda text: text):
        parser = argparse.ArgumentParser(prog="x")
        parser.add_argument("--value", type=kind)
        with pytest.raises(parser_spec.SpecError):
            parser_spec.describe_parser(parser)
