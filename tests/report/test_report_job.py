"""The report of a real CNVkit job (the demo data, run once per session), opened from the
delivered output folder in headless Chromium with the network cut off: what a bioinformatician
checks first is there and right."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser_helpers import ARTIFACTS, browser, screenshot
from workflow_helpers import read_table

from localgene import report

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def truth(demo_data):
    return json.loads((demo_data / "truth.json").read_text())


@pytest.fixture(scope="module")
def opened(cnvkit_job):
    """The delivered report in the browser: its page, the requests it tried, its tables."""
    path = cnvkit_job.delivered / "report.html"
    with browser() as ctx:
        requests = []

        def route(r):
            requests.append(r.request.url)
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                r.abort()

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        screenshot(page, "report-cnvkit")
        images = page.evaluate("[...document.images].map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight, "
                               "complete: i.complete, src: i.src.slice(0, 22)}))")
        tables = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.segments, .genes')].map(div =>
            [div.className + ':' + div.dataset.sample, [...div.querySelectorAll('tbody tr')].map(tr =>
                ({cls: tr.className, cells: [...tr.cells].map(td => td.textContent.trim())}))]))""")
        headers = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.segments, .genes')].map(div =>
            [div.className + ':' + div.dataset.sample, [...div.querySelectorAll('thead th')].map(th => th.textContent)]))""")
        text = page.inner_text("body")
        yield {"page": page, "requests": requests, "images": images, "tables": tables, "headers": headers,
               "text": text}


def _rows(opened, table, sample):
    key = f"{table}:{sample}"
    cols = opened["headers"][key]
    return [dict(zip(cols, r["cells"]), cls=r["cls"]) for r in opened["tables"][key]]


def _int(text):
    return int(text.replace(",", ""))


def test_report_is_delivered_and_in_the_job_folder(cnvkit_job):
    assert (cnvkit_job.results / "report.html").read_bytes() == (cnvkit_job.delivered / "report.html").read_bytes()
    assert (cnvkit_job.delivered / "qc" / "metrics.tsv").is_file()


def test_report_needs_nothing_from_the_network(opened, cnvkit_job):
    assert all(u.startswith(("file:", "data:")) for u in opened["requests"]), opened["requests"]
    # It still opens alone: copied somewhere else without the rest of the results folder.
    assert opened["requests"][0].endswith("/report.html")


def test_every_plot_renders(opened, cnvkit_job):
    samples = list(cnvkit_job.summary()["experimental"])
    images = opened["images"]
    assert len(images) == 2 * len(samples)  # a scatter and a diagram per sample
    for img in images:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
        assert img["src"].startswith("data:image/png"), img


def test_segment_table_lists_every_called_segment(opened, cnvkit_job):
    for sample in cnvkit_job.summary()["experimental"]:
        calls = read_table(cnvkit_job.results / "samples" / f"{sample}.call.cns")
        rows = _rows(opened, "segments", sample)
        assert [(r["chromosome"], _int(r["start"]), _int(r["end"]), int(r["cn"])) for r in rows] == \
            list(zip(calls.chromosome, calls.start, calls.end, calls.cn))


def test_planted_events_are_highlighted_with_their_direction(opened, truth):
    for sample, info in truth["samples"].items():
        if info["role"] != "experimental":
            continue
        rows = _rows(opened, "segments", sample)
        for event in info["events"]:
            want = "loss" if event["cn"] < 2 else "gain"
            hits = [r for r in rows if r["chromosome"] == event["chrom"] and _int(r["start"]) < event["end"]
                    and _int(r["end"]) > event["start"]]
            covered = sum(min(_int(r["end"]), event["end"]) - max(_int(r["start"]), event["start"])
                          for r in hits if r["cls"] == want)
            assert covered > 0.8 * (event["end"] - event["start"]), (sample, event["kind"], hits)
        for r in rows:  # nothing else is highlighted (a male's single chrX is neutral)
            if r["cls"]:
                assert any(r["chromosome"] == e["chrom"] and _int(r["start"]) < e["end"] and _int(r["end"]) > e["start"]
                           for e in info["events"]), (sample, r)


def test_male_chrx_is_not_a_loss(opened, truth):
    male = next(s for s, i in truth["samples"].items() if i["role"] == "experimental" and i["sex"] == "male")
    chrx = [r for r in _rows(opened, "segments", male) if r["chromosome"] == "chrX"]
    assert chrx and all(int(r["cn"]) == 1 and r["cls"] == "" for r in chrx)


def test_genes_of_planted_events_are_listed(opened, truth):
    for sample, info in truth["samples"].items():
        if info["role"] != "experimental":
            continue
        listed = {r["gene"]: r["cls"] for r in _rows(opened, "genes", sample)}
        for event in info["events"]:
            want = "loss" if event["cn"] < 2 else "gain"
            found = [g for g in event["genes"] if listed.get(g) == want]
            assert len(found) >= 0.8 * len(event["genes"]), (sample, event["kind"], sorted(set(event["genes"]) - set(found)))


def test_sex_and_qc_are_shown(opened, cnvkit_job, truth):
    page = opened["page"]
    sex_rows = page.evaluate("[...document.querySelectorAll('#overview table')[0].querySelectorAll('tbody tr')]"
                             ".map(tr => [...tr.cells].map(td => td.textContent))")
    assert {r[0]: r[1].lower() for r in sex_rows} == {s: i["sex"] for s, i in truth["samples"].items()}
    qc = page.evaluate("(() => { const t = document.querySelectorAll('#overview table')[1];"
                       " const h = [...t.querySelectorAll('th')].map(th => th.textContent);"
                       " return [...t.querySelectorAll('tbody tr')].map(tr => Object.fromEntries("
                       "[...tr.cells].map((td, i) => [h[i], td.textContent]))); })()")
    metrics = read_table(cnvkit_job.results / "qc" / "metrics.tsv")
    for sample in cnvkit_job.summary()["experimental"]:
        row = next(r for r in qc if r["sample"] == sample)
        m = metrics[metrics["sample"].str.contains(f"/{sample}.cnr")].iloc[0]
        cnr = read_table(cnvkit_job.results / "samples" / f"{sample}.cnr")
        cov = [read_table(cnvkit_job.results / "coverage" / f"{sample}.{k}coverage.cnn") for k in ("target", "antitarget")]
        assert _int(row["segments"]) == m.segments and float(row["MAD"]) == pytest.approx(m.mad, abs=0.005)
        assert _int(row["bins"]) == len(cnr)
        assert _int(row["bins dropped"]) == len(cov[0]) + len(cov[1]) - len(cnr)
        assert float(row["target depth"]) == pytest.approx(cov[0].depth.mean(), rel=1e-3)
        assert float(row["target depth"]) > 20 * float(row["antitarget depth"])  # reads sit on the targets


def test_run_record_shows_options_versions_and_no_timeline(opened, cnvkit_job):
    text = opened["text"]
    summary = cnvkit_job.summary()
    assert "-q 10" in text and "--split" in text
    assert f"cnvkit\t{summary['versions']['cnvkit']}" in text or summary["versions"]["cnvkit"] in text
    if "timeline" not in summary:
        assert "no timeline recorded" in text


def test_report_step_draws_a_recorded_timeline(cnvkit_job, tmp_path):
    """When job.json carries the per-step timeline, the report step draws it (one bar per step):
    the report rule re-run by Snakemake in a copy of the finished job folder."""
    job = tmp_path / "job"
    shutil.copytree(cnvkit_job.job_dir, job, symlinks=True)
    summary = json.loads((job / "results" / "job.json").read_text())
    logs = sorted((job / "logs").rglob("*.log"))[:6]
    summary["timeline"] = [{"step": p.parent.name, "wildcards": {"sample": p.stem}, "log": str(p.relative_to(job)),
                            "start": p.stat().st_mtime - 2 - i, "end": p.stat().st_mtime, "wall_s": 2.0 + i,
                            "cpu_s": 1.5, "max_rss_mb": 180} for i, p in enumerate(logs)]
    (job / "results" / "job.json").write_text(json.dumps(summary))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
                           "config.json", "--cores", "1", "--forcerun", "report", "--until", "report"],
                          cwd=job, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rule report" in proc.stderr and "rule segment" not in proc.stderr  # nothing upstream re-ran
    # The summary step may have been re-run and recorded the real timeline instead: either way
    # the page draws what job.json holds.
    recorded = json.loads((job / "results" / "job.json").read_text())["timeline"]
    assert recorded
    with browser() as ctx:
        page = ctx.new_page()
        page.goto((job / report.REPORT_PATH).as_uri())
        assert page.locator(".timeline svg rect.bar").count() == len(recorded)
        assert page.locator("#no-timeline").count() == 0
        page.locator("#timeline").screenshot(path=str(ARTIFACTS / "report-timeline.png"))
