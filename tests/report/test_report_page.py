"""localgene.report's pieces without a workflow run: neutral copy numbers, the timeline chart,
number formatting, and a page that needs nothing but itself."""

from __future__ import annotations

import json
import re

import pytest

from localgene import report
from localgene.report import cnvkit, timeline
from localgene.report.page import format_number, png_data_uri


@pytest.mark.parametrize("chrom, sex, cn, expected", [
    ("chr2", "Female", 1, "loss"), ("chr2", "Male", 3, "gain"), ("2", "Male", 2, ""),
    ("chrX", "Male", 1, ""), ("chrX", "Female", 1, "loss"), ("chrX", "Male", 2, "gain"),
    ("chrY", "Female", 0, ""), ("chrY", "Male", 0, "loss"), ("chr4", None, 0, "loss"),
    ("chr1", "Female", float("nan"), ""),
])
def test_non_neutral_copy_numbers_follow_the_sex(chrom, sex, cn, expected):
    assert cnvkit.change_class(chrom, cn, sex) == expected


def test_numbers_are_readable():
    assert format_number(1234567) == "1,234,567"
    assert format_number(0.1897421) == "0.19"
    assert format_number(-0.992235) == "-0.992"
    assert format_number(98.93612) == "98.936"
    assert format_number(float("nan")) == ""
    assert format_number(2.0) == "2"


ENTRIES = [
    {"step": "coverage", "wildcards": {"sample": "T1", "kind": "target"}, "log": "logs/coverage/T1.target.log",
     "start": "2026-01-01T10:00:00+00:00", "end": "2026-01-01T10:00:04+00:00", "wall_s": 4.0, "cpu_s": 3.5,
     "max_rss_mb": 190},
    {"step": "segment", "wildcards": {"sample": "T1"}, "log": "logs/segment/T1.log",
     "start": "2026-01-01T10:00:04+00:00", "end": "2026-01-01T10:00:12+00:00", "wall_s": 8.0, "cpu_s": 7.9,
     "max_rss_mb": 200},
]


def test_timeline_draws_one_bar_per_step_placed_by_time():
    svg = str(timeline.timeline_svg(ENTRIES))
    bars = re.findall(r'<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert len(bars) == 2
    (x0, w0), (x1, w1) = [(float(x), float(w)) for x, w in bars]
    assert x0 == timeline.LABEL_PX and x1 == pytest.approx(x0 + w0, abs=0.2)  # the second starts as the first ends
    assert w1 == pytest.approx(2 * w0, rel=0.01)  # twice as long
    assert "coverage (T1,target)" in svg and "7.90 s CPU" in svg and "200 MB peak" in svg


def test_timeline_takes_epoch_times_and_missing_wall_time():
    entries = [{"step": "a", "start": 1_700_000_000_000, "end": 1_700_000_002_000},
               {"step": "b", "start": 1_700_000_002.0, "end": 1_700_000_003.0}]
    svg = str(timeline.timeline_svg(entries))
    assert ">2.0 s<" in svg and ">1.0 s<" in svg


def _mini_job(tmp_path, **summary):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "job.json").write_text(json.dumps(
        {"instance_id": "x", "experimental": {}, "controls": {}, "steps": {"call": ["-m", "clonal"]},
         "warnings": ["call: --center-at 0 has no effect"], "versions": {"cnvkit": "0.9.14"}, **summary}))
    return {"summary": "results/job.json", **{k: f"results/{k}/{{sample}}.{{kind}}" for k in cnvkit.REQUIRED_PATHS},
            "sex": "results/sex.tsv", "metrics": "results/qc/metrics.tsv"}


def test_report_says_when_no_timeline_was_recorded(tmp_path):
    paths = _mini_job(tmp_path)
    html = report.render(tmp_path, paths)
    assert "no timeline recorded" in html
    assert "call: --center-at 0 has no effect" in html and "-m clonal" in html and "0.9.14" in html


def test_report_draws_the_recorded_timeline(tmp_path):
    paths = _mini_job(tmp_path, timeline=ENTRIES)
    html = report.render(tmp_path, paths)
    assert "no timeline recorded" not in html
    assert html.count('<rect class="bar"') == len(ENTRIES)


def test_an_unknown_job_kind_is_named(tmp_path):
    paths = _mini_job(tmp_path, job_type="WGS_ASSEMBLY")
    with pytest.raises(KeyError, match="WGS_ASSEMBLY"):
        report.render(tmp_path, paths)


def test_a_pipeline_report_names_the_paths_it_lacks(tmp_path):
    paths = _mini_job(tmp_path, job_type="RNA_DIFF_EXPR")
    with pytest.raises(KeyError, match="the RNA report needs the paths of: de_csv"):
        report.render(tmp_path, paths)


def test_page_fetches_nothing(tmp_path):
    html = report.render(tmp_path, _mini_job(tmp_path))
    assert not re.search(r'(src|href)="(?!#|data:)', html), "the report must reference only itself"
    assert "<link" not in html and "<script" not in html and "@import" not in html
    assert "default-src 'none'" in html  # and the browser is told so


def test_png_data_uri(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n....")
    assert png_data_uri(png).startswith("data:image/png;base64,iVBORw0KGgo")
    assert png_data_uri(tmp_path / "missing.png") is None
