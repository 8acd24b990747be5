"""`/docs` offline and the export dashboard `/`, in headless Chromium against the real Worker."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.support import screenshot
from tests.conftest import put_object, token_headers, user_token, worker_env
from tests.waiting import wait_for

INPUT_KEY = "working_videos/match.mp4"
PRICE = 0.0004  # USD per GPU-second: the usage column shows a cost
PER_USER = 3  # the scheduler's limit per user here: a user's fourth running job is queued
PARAMS = {
    "overlay": {"highlight_regions": [{"start_frame": 0, "end_frame": 30, "x": 0.5, "y": 0.5,
                                       "radius_x": 0.1, "radius_y": 0.2}], "effect_type": "dim"},
    "framing": {"crop_keyframes": [{"frame": 0, "x": 0, "y": 0, "width": 0.316, "height": 1}], "fps": 30},
    "annotate": {"clips": [{"start_time": 1.5, "end_time": 9, "name": "Goal"}]},
}


def test_docs_render_offline_from_the_workers_own_assets(page, traffic, worker):
    page.goto("/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    expect(page.locator(".opblock-summary-path", has_text="/api/export/jobs").first).to_be_visible()
    # Everything came from the Worker: Swagger UI's files, the OpenAPI document, the favicon.
    hosts = {urlsplit(url).netloc for _, url in traffic.requests}
    assert hosts == {urlsplit(worker.base_url).netloc}, hosts
    for asset in ("/vendor/swagger-ui/swagger-ui-bundle.js", "/vendor/swagger-ui/swagger-ui.css", "/openapi.json"):
        assert traffic.urls(asset), f"{asset} was not loaded"


# --- the export dashboard (/) ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def worker(tmp_path_factory, fake_runpod):
    """The browser tests' Worker, with a GPU price so the dashboard has a cost to show."""
    from tests.worker_process import worker as make_worker_process

    env = worker_env(fake_runpod.url, GPU_PRICE_PER_S=str(PRICE), MAX_ACTIVE_PER_USER=str(PER_USER))
    with make_worker_process(tmp_path_factory.mktemp("dashboard"), env) as proc:
        yield proc


def start_export(client, fake_runpod, user: str, project_id: int = 7, export_type: str = "overlay"
                 ) -> tuple[str, dict, str]:
    """Start an export for `user` and wait until RunPod got it: (job id, the run's input, RunPod id)."""
    r = client.post(f"/api/export/{export_type}/start", headers=token_headers(user),
                    json={"project_id": project_id, "input_key": INPUT_KEY, "params": PARAMS[export_type]})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    run, runpod_id = fake_runpod.run_for(job_id)
    return job_id, run["input"], runpod_id


def nth_run(fake_runpod, job_id: str, n: int) -> tuple[dict, str]:
    """The input of the job's `n`th RunPod job (its `n`th attempt) and its RunPod id, once it has arrived."""
    wait_for(lambda: fake_runpod.runs_of(job_id) >= n, timeout=20, what=f"attempt {n} at RunPod")
    runs = [(run, rid) for run, rid in zip(fake_runpod.runs, fake_runpod.run_ids, strict=False)
            if run["input"]["job_id"] == job_id]
    return runs[n - 1][0]["input"], runs[n - 1][1]


def report(gpu_input: dict, body: dict) -> None:
    """What the GPU worker does: POST to the signed callback URL it was given."""
    r = httpx.post(gpu_input["callback_url"], json=body, timeout=30)
    assert r.status_code == 200, r.text


def upload_output(gpu_input: dict, data: bytes) -> None:
    r = httpx.put(gpu_input["output_url"], content=data, headers=gpu_input["output_headers"], timeout=30)
    assert r.status_code == 200, r.text


def api_status(client, user: str, job_id: str) -> dict:
    return client.get(f"/api/export/status/{job_id}", headers=token_headers(user)).json()


def job_row(page, job_id: str):
    return page.locator(f'li.job[data-job-id="{job_id}"]')


def open_dashboard(page, user: str) -> str:
    token = user_token(user)
    page.goto(f"/#token={token}")
    return token


def new_user(client, user: str) -> str:
    """A user with an input video. Each test has its own, so the dashboard lists only that test's jobs."""
    put_object(client, user, INPUT_KEY, b"\x00\x01input-video" * 100)
    return user


def running_on_dashboard(page, client, fake_runpod, user: str):
    """A job RunPod took, open on the dashboard and shown processing: (job id, its GPU input, RunPod id, row)."""
    fake_runpod.mode = "ok"
    job_id, gpu, runpod_id = start_export(client, fake_runpod, user)
    open_dashboard(page, user)
    row = job_row(page, job_id)
    expect(row.locator(".status")).to_have_text("processing")
    return job_id, gpu, runpod_id, row


@pytest.fixture
def user_with_input(client, request) -> str:
    return new_user(client, "b-" + re.sub(r"[^A-Za-z0-9_-]", "", request.node.name)[:40])


def test_dashboard_follows_a_job_over_its_websocket_to_the_download(page, traffic, client, fake_runpod,
                                                                   user_with_input):
    user = user_with_input
    fake_runpod.mode = "ok"
    job_id, gpu, _ = start_export(client, fake_runpod, user)
    token = open_dashboard(page, user)

    # The token left the address bar at once and lives in this tab's sessionStorage only.
    expect(page.locator("#who-text")).to_contain_text(f"Signed in as {user}")
    assert "token" not in page.url and urlsplit(page.url).fragment == ""
    assert page.evaluate("sessionStorage.getItem('reel.dashboard.token')") == token
    assert page.evaluate("localStorage.length") == 0

    row = job_row(page, job_id)
    bar = row.locator("progress")
    expect(row.locator(".status")).to_have_text("processing")
    expect(row.locator(".feed")).to_have_text("live")
    for value in (40, 75):
        report(gpu, {"status": "progress", "progress": value, "message": f"encoding ({value})"})
        expect(bar).to_have_attribute("value", str(value))
        expect(row.locator(".pct")).to_have_text(f"{value} %")
    expect(row.locator(".message")).to_have_text("encoding (75)")

    rendered = b"rendered by the test's GPU for " + job_id.encode()
    upload_output(gpu, rendered)
    report(gpu, {"status": "complete", "output_key": gpu["output_key"]})
    expect(row.locator(".status")).to_have_text("complete")
    expect(bar).to_have_attribute("value", "100")
    link = row.locator("a.download")
    expect(link).to_be_visible()
    expect(row.locator("button.cancel")).to_be_hidden()
    screenshot(page, "dashboard-live-complete")
    # The link is the signed URL the job's output_url answered: it serves the bytes the GPU uploaded.
    assert httpx.get(link.get_attribute("href"), timeout=30).content == rendered

    # Every update came over the socket: the page never polled, and the token never went into an HTTP URL.
    assert any(f"/api/jobs/{job_id}/ws?token=" in url for url in traffic.websockets)
    assert traffic.urls(f"/api/export/status/{job_id}") == []
    assert [url for _, url in traffic.requests if token in url] == []


def test_dashboard_polls_when_the_websocket_is_dropped(page, traffic, client, fake_runpod, user_with_input):
    user = user_with_input
    fake_runpod.mode = "ok"
    dropped: list[str] = []

    def drop(ws):  # as a proxy that kills WebSockets would: the socket closes before the job ends
        dropped.append(ws.url)
        ws.close(code=1011, reason="dropped by the test")

    page.route_web_socket(re.compile(r"/api/jobs/[^/]+/ws"), drop)
    job_id, gpu, _ = start_export(client, fake_runpod, user)
    open_dashboard(page, user)
    row = job_row(page, job_id)
    expect(row.locator(".feed")).to_have_text("polling")
    assert any(f"/api/jobs/{job_id}/ws" in url for url in dropped)

    report(gpu, {"status": "progress", "progress": 30})
    expect(row.locator("progress")).to_have_attribute("value", "30")
    report(gpu, {"status": "progress", "progress": 65})
    expect(row.locator("progress")).to_have_attribute("value", "65")
    upload_output(gpu, b"polled output")
    report(gpu, {"status": "complete", "output_key": gpu["output_key"]})
    expect(row.locator(".status")).to_have_text("complete")
    expect(row.locator("a.download")).to_be_visible()
    assert httpx.get(row.locator("a.download").get_attribute("href"), timeout=30).content == b"polled output"
    # The bar moved through GET /api/export/status, the only way left.
    assert len(traffic.urls(f"/api/export/status/{job_id}$", "GET")) >= 3
    polls = len(traffic.urls(f"/api/export/status/{job_id}$"))
    expect(row.locator(".feed")).to_be_hidden()  # a finished job is no longer followed
    with page.expect_response(re.compile(r"/api/export/jobs\?")):
        page.locator("#refresh").click()
    assert len(traffic.urls(f"/api/export/status/{job_id}$")) == polls


def test_dashboard_resumes_a_dropped_socket_with_since_and_misses_no_step(page, client, fake_runpod,
                                                                          user_with_input):
    user = user_with_input
    fake_runpod.mode = "ok"
    opened: list[str] = []  # the URL of every socket the page opened
    live: list = []  # (page side, server side) of the sockets let through
    replayed: list[dict] = []  # what the Worker sent over sockets opened with since=
    network = {"down": False}

    def through(ws):  # a network path the test can cut: while it is down, every socket dies at once
        opened.append(ws.url)
        if network["down"]:
            ws.close(code=1011, reason="the network is down")
            return
        server = ws.connect_to_server()

        def forward(message):
            if "since=" in ws.url:
                replayed.append(json.loads(message))
            ws.send(message)

        server.on_message(forward)
        live.append((ws, server))

    page.route_web_socket(re.compile(r"/api/jobs/[^/]+/ws"), through)
    job_id, gpu, _ = start_export(client, fake_runpod, user)
    open_dashboard(page, user)
    row, bar = job_row(page, job_id), job_row(page, job_id).locator("progress")
    expect(row.locator(".feed")).to_have_text("live")
    report(gpu, {"status": "progress", "progress": 20})  # seq 2: the last the page sees before the cut
    expect(bar).to_have_attribute("value", "20")
    page.evaluate("""(jobId) => {
        const bar = document.querySelector(`li.job[data-job-id="${jobId}"] progress`);
        window.barSteps = [bar.value];
        new MutationObserver(() => bar.value !== window.barSteps.at(-1) && window.barSteps.push(bar.value))
          .observe(bar, { attributes: true, attributeFilter: ["value"] });
    }""", job_id)

    # The network goes: the socket drops, the page's reconnects die, and its polls and list reads fail too.
    page.route(re.compile(r"/api/export/(status/|jobs\?)"), lambda route: route.abort())
    network["down"] = True
    page_side, server_side = live[-1]
    server_side.close()
    page_side.close(code=4000, reason="the network went")
    expect(row.locator(".feed")).to_have_text("polling")
    for value in (40, 70):
        report(gpu, {"status": "progress", "progress": value})
    upload_output(gpu, b"resumed output")
    report(gpu, {"status": "complete", "output_key": gpu["output_key"]})
    assert page.evaluate("window.barSteps") == [20]  # nothing reached the page while it was cut off

    # The network is back (for sockets only: polling still fails): the next reconnect asks for what came
    # after seq 2, and gets every step, the terminal one included, in order.
    network["down"] = False
    expect(row.locator(".status")).to_have_text("complete")
    expect(row.locator("a.download")).to_be_visible()
    assert [(m["type"], m.get("progress"), m["seq"]) for m in replayed] == [
        ("progress", 40, 3), ("progress", 70, 4), ("complete", None, 5)]
    assert page.evaluate("window.barSteps") == [20, 40, 70, 100]
    resumed = [url for url in opened if "since=" in url]
    assert resumed and all(re.search(r"[?&]since=2(&|$)", url) for url in resumed), opened
    screenshot(page, "dashboard-resumed")


def test_cancel_from_the_dashboard(page, client, fake_runpod, user_with_input):
    user = user_with_input
    job_id, _, runpod_id, row = running_on_dashboard(page, client, fake_runpod, user)

    # The page asks first: saying no leaves the job running.
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button.cancel").click()
    expect(row.locator("button.cancel")).to_be_enabled()
    assert api_status(client, user, job_id)["status"] == "processing"

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.cancel").click()
    expect(row.locator(".status")).to_have_text("cancelled")
    expect(row.locator("button.cancel")).to_be_hidden()
    assert api_status(client, user, job_id)["status"] == "cancelled"
    wait_for(lambda: runpod_id in fake_runpod.cancel_calls, what="RunPod's cancel call")


def test_dashboard_shows_each_state_and_errors_plainly(page, client, fake_runpod):
    """Several jobs at once: running, complete, failed. Its screenshot is docs/images/dashboard.png."""
    user = new_user(client, "maria")
    fake_runpod.mode = "ok"
    failed, failed_gpu, _ = start_export(client, fake_runpod, user, project_id=12, export_type="annotate")
    done, done_gpu, _ = start_export(client, fake_runpod, user, project_id=12, export_type="framing")
    running, running_gpu, _ = start_export(client, fake_runpod, user, project_id=12)
    report(failed_gpu, {"status": "error", "error": "ffmpeg exited with status 1: invalid data found"})
    upload_output(done_gpu, b"done")
    report(done_gpu, {"status": "complete", "output_key": done_gpu["output_key"]})
    report(running_gpu, {"status": "progress", "progress": 60, "message": "encoding frame 5400 of 9000"})

    page.set_viewport_size({"width": 900, "height": 640})
    open_dashboard(page, user)
    rows = page.locator("li.job")
    expect(rows).to_have_count(3)
    # Newest first.
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.jobId)") == [running, done, failed]
    expect(job_row(page, running).locator("progress")).to_have_attribute("value", "60")
    expect(job_row(page, running).locator(".message")).to_have_text("encoding frame 5400 of 9000")
    expect(job_row(page, done).locator("a.download")).to_be_visible()
    expect(job_row(page, failed).locator(".status")).to_have_text("error")
    expect(job_row(page, failed).locator(".job-error")).to_have_text(
        "Failed: ffmpeg exited with status 1: invalid data found")
    expect(job_row(page, running).locator(".feed")).to_have_text("live")
    screenshot(page, "dashboard", full_page=True)


def test_a_queued_jobs_place_in_the_queue_moves(page, client, fake_runpod, user_with_input):
    user = user_with_input
    fake_runpod.mode = "ok"
    running = [start_export(client, fake_runpod, user) for _ in range(PER_USER)]
    queued = []
    for _ in range(2):
        r = client.post("/api/export/overlay/start", headers=token_headers(user),
                        json={"project_id": 7, "input_key": INPUT_KEY, "params": PARAMS["overlay"]})
        assert r.status_code == 202 and r.json()["status"] == "queued", r.text
        queued.append(r.json()["job_id"])
    open_dashboard(page, user)
    first, second = (job_row(page, job_id).locator(".status") for job_id in queued)
    expect(first).to_have_text("queued · #1")
    expect(second).to_have_text("queued · #2")
    expect(job_row(page, queued[1]).locator("button.cancel")).to_be_visible()  # a queued job can be cancelled
    expect(job_row(page, queued[1]).locator(".feed")).to_have_text("live")
    # A running job ends: the first queued one gets its slot and runs, the second moves up (over its WebSocket).
    job_id, gpu, _ = running[0]
    fake_runpod.end(job_id)
    report(gpu, {"status": "complete"})
    expect(second).to_have_text("queued · #1")
    expect(first).to_have_text("processing")
    screenshot(page, "dashboard-queued", full_page=True)
    # Nothing left holding a slot or a place for the next tests.
    assert client.post(f"/api/export/jobs/{queued[1]}/cancel", headers=token_headers(user)).status_code == 200
    for job_id in [queued[0], *(j for j, _, _ in running[1:])]:
        fake_runpod.end(job_id)
        report(fake_runpod.run_for(job_id)[0]["input"], {"status": "complete"})


def test_a_refused_token_then_a_pasted_one_then_forgotten(page):
    page.goto("/#token=not-a-real-token")
    expect(page.locator("#error")).to_contain_text("HTTP 401, unauthorized")
    expect(page.locator("#token-form")).to_be_visible()
    assert urlsplit(page.url).fragment == ""

    page.locator("#token-input").fill(user_token("nobody-yet"))
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#who-text")).to_contain_text("Signed in as nobody-yet")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()

    page.get_by_role("button", name="Forget token").click()
    expect(page.locator("#token-form")).to_be_visible()
    expect(page.locator("#jobs-card")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('reel.dashboard.token')") is None


def test_the_dashboard_fits_a_phone(page, client, fake_runpod, user_with_input):
    user = user_with_input
    fake_runpod.mode = "ok"
    job_id, _, _ = start_export(client, fake_runpod, user)
    page.set_viewport_size({"width": 360, "height": 740})
    open_dashboard(page, user)
    expect(job_row(page, job_id).locator(".status")).to_have_text("processing")
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "dashboard-phone", full_page=True)


def test_a_job_retried_by_itself_then_from_the_dashboard_keeps_its_row_and_shows_its_cost(
        page, client, fake_runpod, user_with_input):
    user = user_with_input
    job_id, gpu, _, row = running_on_dashboard(page, client, fake_runpod, user)
    expect(row.locator(".attempt")).to_be_hidden()
    expect(row.locator("button.retry")).to_be_hidden()

    # A failure that is not the input's: the Worker retries by itself and the socket says so.
    report(gpu, {"status": "error", "error": "internal error in the GPU worker (out of memory)", "retryable": True})
    expect(row.locator(".attempt")).to_have_text("attempt 2")
    expect(row.locator(".message")).to_have_text("Retrying after: internal error in the GPU worker (out of memory)")
    second, _ = nth_run(fake_runpod, job_id, 2)
    expect(row.locator(".status")).to_have_text("processing")
    report(second, {"status": "progress", "progress": 35})
    expect(row.locator("progress")).to_have_attribute("value", "35")

    # The input's fault ends the job; the Retry button runs it again under the same id, with a key.
    report(second, {"status": "error", "error": "the input is not a video"})
    expect(row.locator(".status")).to_have_text("error")
    expect(row.locator(".job-error")).to_have_text("Failed: the input is not a video")
    expect(row.locator("button.cancel")).to_be_hidden()
    with page.expect_request(re.compile(rf"/api/export/jobs/{job_id}/retry$")) as sent:
        row.locator("button.retry").click()
    assert re.fullmatch(r"[0-9a-f-]{32,36}", sent.value.headers["idempotency-key"])
    expect(row.locator(".attempt")).to_have_text("attempt 3")
    expect(row.locator(".job-error")).to_be_hidden()
    expect(row.locator("button.retry")).to_be_hidden()
    expect(page.locator("li.job")).to_have_count(1)  # the same row: the same job

    third, third_rp = nth_run(fake_runpod, job_id, 3)
    expect(row.locator(".status")).to_have_text("processing")
    expect(row.locator("progress")).to_have_attribute("value", "0")  # a new attempt starts over
    upload_output(third, b"third time lucky")
    report(third, {"status": "complete", "output_key": third["output_key"]})
    expect(row.locator(".status")).to_have_text("complete")
    expect(row.locator("a.download")).to_be_visible()
    # RunPod's webhook comes last with its times; the list (re-read) brings them to the usage column.
    report(third, {"id": third_rp, "status": "COMPLETED", "delayTime": 2500, "executionTime": 12_400,
                   "output": {"output_key": third["output_key"]}})
    page.locator("#refresh").click()
    expect(row.locator(".usage")).to_have_text(f"GPU 12.4 s · ${12.4 * PRICE:.4f} · waited 2.5 s")
    screenshot(page, "dashboard-retried")
    body = api_status(client, user, job_id)
    assert [a["outcome"] for a in body["attempts"]] == ["error", "error", "complete"]
    assert body["attempt"] == 3 and body["usage"]["execution_ms"] == 12_400


def test_a_stale_retry_button_says_why_and_shows_the_job_as_it_is(page, client, fake_runpod, user_with_input):
    user = user_with_input
    fake_runpod.mode = "ok"
    job_id, gpu, _ = start_export(client, fake_runpod, user)
    report(gpu, {"status": "error", "error": "the input is not a video"})
    open_dashboard(page, user)
    row = job_row(page, job_id)
    expect(row.locator("button.retry")).to_be_visible()

    # Another tab (or the backend) retried it meanwhile: the page's button is stale.
    r = client.post(f"/api/export/jobs/{job_id}/retry", headers=token_headers(user))
    assert r.status_code == 202, r.text
    row.locator("button.retry").click()
    expect(row.locator(".job-error")).to_contain_text("not_retryable")
    expect(row.locator(".attempt")).to_have_text("attempt 2")
    expect(row.locator("button.retry")).to_be_hidden()
    expect(row.locator("button.cancel")).to_be_visible()
    assert fake_runpod.runs_of(job_id) == 2
