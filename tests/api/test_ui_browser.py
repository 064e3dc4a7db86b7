"""The job browser in headless Chromium, against `localgene serve`'s application on a real port,
over the store that holds a real finished CNVkit job (the session's demo job): sign in, the job
list, the job page with live progress, the report, cancel, and another user's jobs unseen."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from api_helpers import LiveServer
from browser_helpers import browser, screenshot

from localgene import settings as settings_mod
from localgene.api import users as users_mod
from localgene.api.app import ApiSettings, create_app
from localgene.store import Store

pytestmark = pytest.mark.workflow

PROJECT = "local"  # the project `localgene run` records its jobs in


@pytest.fixture(scope="module")
def site(cnvkit_job, demo_data, tmp_path_factory):
    home = cnvkit_job.job_dir.parent.parent
    cfg = settings_mod.load({"LOCALGENE_HOME": str(home)})
    store = Store.open(cfg)
    owner = store.find(cnvkit_job.instance_id).owner
    users_path = tmp_path_factory.mktemp("users") / "users.yaml"
    tokens = {}
    for name in (owner, "mallory"):
        _, tokens[name] = users_mod.add_user(users_path, name, tenant="lab", role="user", projects=[PROJECT])
    with LiveServer(create_app(ApiSettings(cfg, users_path=users_path, data_roots=(Path("/"),)))) as server:
        body = json.loads((demo_data / "job.json").read_text())
        body["output_dir"] = str(tmp_path_factory.mktemp("out"))
        yield {"url": server.url, "owner": owner, "tokens": tokens, "store": store, "body": body,
               "finished": cnvkit_job.instance_id}


def submit(site, user):
    import httpx

    reply = httpx.post(f"{site['url']}/v2.0/{PROJECT}/gene/tools/cnvkit", json=site["body"],
                       headers={"X-Auth-Token": site["tokens"][user]}, timeout=120)
    assert reply.status_code == 201, reply.text
    return reply.json()["instance_id"]


def sign_in(ctx, site, user):
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(site["url"] + "/ui/")
    page.wait_for_selector("#login-form")
    page.fill("#token", site["tokens"][user])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#jobs tbody tr")
    page.errors = errors
    return page


def listed(page):
    page.wait_for_selector("#page-info:not(:empty)")
    return page.eval_on_selector_all("#jobs tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)")


def test_a_wrong_token_is_refused_with_the_api_message(site):
    with browser() as ctx:
        page = ctx.new_page()
        page.goto(site["url"] + "/ui/")
        page.fill("#token", "lg_not-a-token")
        page.click("#login-form button[type=submit]")
        alert = page.wait_for_selector("#login-form [role=alert]")
        assert "DLI.0013" in alert.inner_text()
        screenshot(page, "ui-login-refused")


def test_owner_sees_the_finished_job_and_its_report(site):
    with browser() as ctx:
        page = sign_in(ctx, site, site["owner"])
        assert site["finished"] in listed(page)
        row = page.locator(f"#jobs tr[data-id='{site['finished']}']")
        assert row.locator("[data-status]").inner_text() == "FINISHED"
        assert re.fullmatch(r"(\d+)/\1", row.locator("td").nth(3).inner_text().strip())  # every step done
        assert row.locator("td").nth(6).inner_text() == site["owner"]
        screenshot(page, "ui-jobs")

        row.locator("a").click()
        page.wait_for_selector("#report-link")
        assert page.inner_text("#job-id") == site["finished"]
        assert "FINISHED" in page.inner_text("#job [data-status]")
        page.wait_for_function("document.querySelector('#log').textContent.includes('steps (100%) done')")
        assert page.locator("#cancel").count() == 0  # nothing to cancel
        screenshot(page, "ui-job-finished")

        with ctx.expect_page() as popup:
            page.click("#report-link")
        report = popup.value
        report.wait_for_load_state("load")
        assert site["finished"] in report.inner_text("#instance-id")
        widths = report.evaluate("[...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        assert widths and all(w > 0 for w in widths), widths
        assert report.locator(".segments tbody tr").count() > 0
        screenshot(report, "ui-report", full_page=False)
        assert not page.errors, page.errors


def test_live_progress_then_cancel_moves_the_job_to_cancelled(site):
    store = site["store"]
    running = submit(site, site["owner"])
    store.claim(running, "test-worker")
    store.transition(running, "RUNNING")
    store.set_progress(running, 3, 12)
    waiting = submit(site, site["owner"])
    with browser() as ctx:
        page = sign_in(ctx, site, site["owner"])
        page.goto(f"{site['url']}/ui/#/job?project={PROJECT}&id={running}")
        page.wait_for_selector("#progress-text:has-text('3/12 steps')")
        store.set_progress(running, 8, 12)  # the worker moves on; the open page follows
        page.wait_for_selector("#progress-text:has-text('8/12 steps')")
        assert page.get_attribute("[role=progressbar]", "aria-valuenow") == "67"
        screenshot(page, "ui-job-running")

        page.goto(f"{site['url']}/ui/#/job?project={PROJECT}&id={waiting}")
        page.wait_for_selector("#job [data-status='LAUNCHING']")
        page.click("#cancel")
        page.wait_for_selector("#job [data-status='CANCELLED']")
        assert page.locator("#cancel").count() == 0
        screenshot(page, "ui-job-cancelled")
    assert store.find(waiting).status.value == "CANCELLED"
    store.transition(running, "FAILED", message="test over")


def test_another_users_jobs_are_not_visible(site):
    hers = submit(site, "mallory")
    with browser() as ctx:
        owner = sign_in(ctx, site, site["owner"])
        assert hers not in listed(owner) and site["finished"] in listed(owner)
    with browser() as ctx:
        page = sign_in(ctx, site, "mallory")
        assert listed(page) == [hers]
        page.select_option("#filter-status", "FINISHED")  # her only job is LAUNCHING
        page.wait_for_selector("#jobs tbody td:has-text('no jobs')")
        assert page.inner_text("#page-info") == "0–0 of 0"
        screenshot(page, "ui-jobs-filtered")
        page.goto(f"{site['url']}/ui/#/job?project={PROJECT}&id={site['finished']}")
        alert = page.wait_for_selector("#job [role=alert]")
        assert "DLI.0403" in alert.inner_text()
        assert page.locator("#report-link").count() == 0 and page.locator("#cancel").count() == 0
        assert page.locator("#log-card").is_hidden()
        screenshot(page, "ui-job-not-yours")


def test_paging_in_the_browser(site):
    for _ in range(3):
        submit(site, "mallory")
    with browser() as ctx:
        page = sign_in(ctx, site, "mallory")
        total = len(listed(page))
        assert total >= 4
        page.goto(f"{site['url']}/ui/#/jobs?project={PROJECT}&limit=3&page=1")
        page.wait_for_selector(f"#page-info:has-text('1–3 of {total}')")
        first = listed(page)
        page.click("#next")
        page.wait_for_selector("#page-info:has-text('4–')")
        second = listed(page)
        assert len(first) == 3 and second and not set(first) & set(second)
        assert page.is_disabled("#next") == (3 + len(second) >= total)
