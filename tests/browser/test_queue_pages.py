"""The encode-queue pages /add-jobs/ and /view-jobs/ in headless Chromium, against the real Worker's queue
(docs/api.md "Encode queue"). Each test has its own queue (`?queue=`), so tests never see each other's rows."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import jwt
import pytest
from playwright.sync_api import expect

from tests.browser.support import screenshot
from tests.conftest import SECRETS, SERVER_KEY, server_headers

# The queue tokens' signing key (docs/api.md "Queue tokens"), to read the token the page keeps.
QUEUE_KEY = hmac.new(SECRETS["USER_TOKEN_SECRET"].encode(), b"reel-ballers queue token v1", hashlib.sha256).hexdigest()


@pytest.fixture
def queue(request) -> str:
    return "b-" + re.sub(r"[^A-Za-z0-9_-]", "", request.node.name)[:60]


def api(client, method: str, path: str, queue: str, **kwargs):
    """A queue route called as an encode worker or operator would: the server key, this test's queue."""
    params = {**kwargs.pop("params", {}), "queue": queue}
    return client.request(method, path, params=params, headers=server_headers(), **kwargs)


def rows_of(client, queue: str, status: str = "all") -> list[dict]:
    r = api(client, "GET", "/api/jobs", queue, params={"status": status, "limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()


def open_with_key(page, path: str, queue: str, key: str = SERVER_KEY) -> None:
    """Open a queue page and type the key, which the page trades for a queue token at once."""
    page.goto(f"{path}?queue={queue}")
    expect(page.locator("#queue-input")).to_have_value(queue)
    page.locator("#key-input").fill(key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-saved")).to_be_visible()
    expect(page.locator("#key-input")).to_have_value("")


def row(page, job_id: int):
    return page.locator(f'#rows tr[data-job-id="{job_id}"]')


def test_add_one_and_many_then_see_them_in_the_queue(page, client, queue):
    open_with_key(page, "/add-jobs/", queue)

    page.locator("#file-name").fill("single.mp4")
    page.locator("#crf").fill("23")
    page.locator("#preset").fill("slow")
    page.locator("#max-attempts").fill("2")
    page.locator("#priority").fill("7")
    page.get_by_role("button", name="Add job", exact=True).click()
    expect(page.locator("#created tr")).to_have_count(1)
    expect(page.locator("#notice")).to_have_text(f'Added 1 job to queue "{queue}".')
    [single] = rows_of(client, queue)
    assert (single["file_name"], single["crf"], single["preset"], single["max_attempts"]) == ("single.mp4", "23", "slow", 2)
    assert single["priority"] == 7

    page.locator("#bulk-text").fill("a.mp4\nb.mp4,20,veryfast\n\n# not a job\nc.mp4,,fast\n")
    expect(page.locator("#bulk-count")).to_have_text("3 jobs")
    page.locator("#bulk-max-attempts").fill("4")
    page.locator("#bulk-priority").fill("3")
    page.locator("#bulk-submit").click()
    expect(page.locator("#created tr")).to_have_count(4)
    # A JSON array is sent as it is: a file name with a comma, a crf given as a number.
    page.locator("#bulk-text").fill('[{"file_name": "d,e.mp4", "crf": 18}]')
    page.locator("#bulk-submit").click()
    expect(page.locator("#created tr")).to_have_count(5)
    expect(page.locator("#created tr").first).to_contain_text("d,e.mp4")

    stored = {r["file_name"]: r for r in rows_of(client, queue)}
    assert list(stored) == ["single.mp4", "a.mp4", "b.mp4", "c.mp4", "d,e.mp4"]
    assert (stored["b.mp4"]["crf"], stored["b.mp4"]["preset"]) == ("20", "veryfast")
    assert (stored["c.mp4"]["crf"], stored["c.mp4"]["preset"]) == (None, "fast")
    assert {stored[n]["max_attempts"] for n in ("a.mp4", "b.mp4", "c.mp4")} == {4}
    assert {stored[n]["priority"] for n in ("a.mp4", "b.mp4", "c.mp4")} == {3}
    assert (stored["d,e.mp4"]["crf"], stored["d,e.mp4"]["priority"]) == ("18", 0)
    screenshot(page, "add-jobs")

    # The queue page of the same queue, with the token this tab kept.
    page.get_by_role("link", name="Encode queue").click()
    expect(page).to_have_url(re.compile(rf"/view-jobs/\?queue={queue}$"))
    expect(page.locator("#key-saved")).to_be_visible()
    expect(page.locator("#rows tr")).to_have_count(5)
    for job in stored.values():
        expect(row(page, job["id"])).to_contain_text(job["file_name"])
        expect(row(page, job["id"]).locator("td.priority")).to_have_text(str(job["priority"]))
    expect(page.locator('#stats button[data-status="pending"] .count')).to_have_text("5")
    expect(page.locator("#range")).to_have_text("1–5 of 5")


def test_lease_requeue_and_delete_on_the_queue_page(page, client, queue):
    r = api(client, "POST", "/api/jobs", queue, json=[
        {"file_name": "claimed.mp4"}, {"file_name": "doomed.mp4", "max_attempts": 1}, {"file_name": "spare.mp4"},
        {"file_name": "short-lease.mp4"}])
    assert r.status_code == 201, r.text
    claimed, doomed, spare, _ = (j["id"] for j in r.json())
    assert api(client, "GET", "/api/jobs/claim", queue, params={"lease_s": 120}).json()["id"] == claimed
    assert api(client, "GET", "/api/jobs/claim", queue).json()["id"] == doomed
    r = api(client, "POST", f"/api/jobs/{doomed}/fail", queue, json={"error": "ffmpeg: moov atom not found"})
    assert r.status_code == 200 and r.json()["status"] == "dead", r.text

    open_with_key(page, "/view-jobs/", queue)
    lease = row(page, claimed).locator("td.lease")
    expect(lease).to_contain_text(re.compile(r"expires in \d+ s"))
    seconds = int(re.search(r"expires in (\d+) s", lease.inner_text()).group(1))
    assert 60 < seconds <= 120
    expect(lease).to_contain_text("120 s lease")
    expect(row(page, claimed).locator("td.attempts")).to_have_text("0/3")
    expect(row(page, doomed)).to_have_attribute("data-status", "dead")
    expect(row(page, doomed).locator("td.attempts")).to_have_text("1/1")
    expect(row(page, doomed).locator("td.error-text")).to_have_text("ffmpeg: moov atom not found")
    expect(row(page, claimed).locator("button.requeue")).to_have_count(0)  # only dead jobs can be requeued
    screenshot(page, "view-jobs")

    row(page, doomed).get_by_role("button", name="Requeue").click()
    expect(row(page, doomed)).to_have_attribute("data-status", "pending")
    expect(row(page, doomed).locator("td.attempts")).to_have_text("0/1")
    assert api(client, "GET", f"/api/jobs/{doomed}", queue).json()["status"] == "pending"

    page.once("dialog", lambda dialog: dialog.accept())
    row(page, spare).get_by_role("button", name="Delete").click()
    expect(row(page, spare)).to_have_count(0)
    assert api(client, "GET", f"/api/jobs/{spare}", queue).status_code == 404

    # A lease that runs out shows up by itself (auto refresh): the requeued job, oldest available, is
    # claimed for 1 s and never finished; with max_attempts 1 that expiry makes it dead again.
    claim = api(client, "GET", "/api/jobs/claim", queue, params={"lease_s": 1}).json()
    assert claim["id"] == doomed
    expect(row(page, doomed).locator("td.error-text")).to_have_text("lease expired")
    expect(row(page, doomed)).to_have_attribute("data-status", "dead")
    expect(row(page, doomed).locator("td.attempts")).to_have_text("1/1")

    page.locator("#status-filter").select_option("in_progress")
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(row(page, claimed)).to_be_visible()
    expect(page.locator('#stats button[data-status="in_progress"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator('#stats button[data-status="all"] .count')).to_have_text("3")


def test_pages_of_rows_and_filters(page, client, queue):
    r = api(client, "POST", "/api/jobs", queue, json=[{"file_name": f"clip-{i:02}.mp4"} for i in range(45)])
    assert r.status_code == 201, r.text
    ids = [j["id"] for j in r.json()]
    for _ in range(2):
        job = api(client, "GET", "/api/jobs/claim", queue).json()
        assert api(client, "POST", f"/api/jobs/{job['id']}/finish", queue).status_code == 200

    open_with_key(page, "/view-jobs/", queue)
    expect(page.locator("#range")).to_have_text("1–20 of 45")
    expect(page.locator("#prev")).to_be_disabled()
    assert page.locator("#rows tr").evaluate_all("rs => rs.map(r => Number(r.dataset.jobId))") == ids[:20]
    page.locator("#next").click()
    expect(page.locator("#range")).to_have_text("21–40 of 45")
    page.locator("#next").click()
    expect(page.locator("#range")).to_have_text("41–45 of 45")
    expect(page.locator("#next")).to_be_disabled()
    assert page.locator("#rows tr").evaluate_all("rs => rs.map(r => Number(r.dataset.jobId))") == ids[40:]
    assert "offset=40" in page.url  # a reload shows the same page

    page.locator('#stats button[data-status="finished"]').click()
    expect(page.locator("#range")).to_have_text("1–2 of 2")
    expect(page.locator("#rows tr")).to_have_count(2)
    expect(page.locator("#status-filter")).to_have_value("finished")
    page.locator("#status-filter").select_option("pending")
    page.locator("#page-size").select_option("50")
    expect(page.locator("#range")).to_have_text("1–43 of 43")
    expect(page.locator('#stats button[data-status="finished"] .count')).to_have_text("2")

    # On a phone the table scrolls inside its box; the page itself never scrolls sideways.
    page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/view-jobs/", "/add-jobs/"):
        page.goto(f"{path}?queue={queue}")
        expect(page.locator("#key-saved")).to_be_visible()
        if path == "/view-jobs/":
            expect(page.locator("#rows tr")).to_have_count(20)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        screenshot(page, f"phone{path.replace('/', '-')}", full_page=True)


def test_auto_refresh_follows_the_queue_pauses_when_hidden_and_turns_off(page, client, queue, traffic):
    # The page's own clock is Playwright's: timers run when the test says, so nothing here sleeps.
    page.clock.install()
    api(client, "POST", "/api/jobs", queue, json={"file_name": "first.mp4"})
    open_with_key(page, "/view-jobs/", queue)
    expect(page.locator("#rows tr")).to_have_count(1)

    def lists() -> int:
        return len(traffic.urls(r"/api/jobs\?.*status=", "GET"))

    second = api(client, "POST", "/api/jobs", queue, json={"file_name": "second.mp4"}).json()[0]["id"]
    page.clock.run_for(3500)
    expect(row(page, second)).to_be_visible()

    # A hidden tab asks for nothing; shown again, it refreshes at once.
    page.evaluate("""() => { Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
                            document.dispatchEvent(new Event("visibilitychange")); }""")
    before = lists()
    third = api(client, "POST", "/api/jobs", queue, json={"file_name": "third.mp4"}).json()[0]["id"]
    page.clock.run_for(30_000)
    assert lists() == before
    page.evaluate("""() => { Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
                            document.dispatchEvent(new Event("visibilitychange")); }""")
    expect(row(page, third)).to_be_visible()

    # Off: only "Refresh now" reads the queue.
    page.locator("#auto-refresh").uncheck()
    fourth = api(client, "POST", "/api/jobs", queue, json={"file_name": "fourth.mp4"}).json()[0]["id"]
    before = lists()
    page.clock.run_for(30_000)
    assert lists() == before
    expect(row(page, fourth)).to_have_count(0)
    page.get_by_role("button", name="Refresh now").click()
    expect(row(page, fourth)).to_be_visible()


def test_add_jobs_shows_the_apis_errors(page, client, queue):
    page.goto(f"/add-jobs/?queue={queue}")
    # No token at all: the API's 401, said plainly.
    page.locator("#file-name").fill("x.mp4")
    page.get_by_role("button", name="Add job", exact=True).click()
    expect(page.locator("#error")).to_contain_text("HTTP 401, unauthorized")
    expect(page.locator("#error")).to_contain_text("Type the server API key above.")
    # A wrong key is refused when the page trades it for a token: said beside the key, nothing kept.
    page.locator("#key-input").fill("not-a-key")
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-message")).to_contain_text("The key was not accepted")
    expect(page.locator("#key-message")).to_contain_text("HTTP 401, unauthorized")
    expect(page.locator("#key-form")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    screenshot(page, "add-jobs-401")

    page.locator("#key-input").fill(SERVER_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-saved")).to_be_visible()
    expect(page.locator("#key-message")).to_be_hidden()
    # Over 1000 jobs in one request: 413 too_many_jobs.
    page.locator("#bulk-text").fill("\n".join(f"f{i}.mp4" for i in range(1001)))
    expect(page.locator("#bulk-count")).to_have_text("1001 jobs")
    page.locator("#bulk-submit").click()
    expect(page.locator("#error")).to_contain_text("HTTP 413, too_many_jobs")
    # A bad field: 422 with the field named.
    page.locator("#bulk-text").fill('[{"file_name": "ok.mp4"}, {"file_name": "y.mp4", "max_attempts": 99}]')
    page.locator("#bulk-submit").click()
    expect(page.locator("#error")).to_contain_text("HTTP 422, validation_error")
    expect(page.locator("#error")).to_contain_text("max_attempts")
    screenshot(page, "add-jobs-422")
    assert rows_of(client, queue) == []  # all or nothing: nothing was added by any of these

    page.get_by_role("button", name="Forget token").click()
    expect(page.locator("#key-form")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def storage_dump(page) -> dict:
    """Everything this origin keeps in the browser that a script can read."""
    return page.evaluate("""() => ({
        local: Object.fromEntries(Object.entries(localStorage)),
        session: Object.fromEntries(Object.entries(sessionStorage)),
        cookie: document.cookie })""")


def test_the_key_is_never_stored_only_a_queue_token_for_this_tab(page, client, queue):
    sent = []  # (method, url, headers) of every request, the key and the token in them included
    page.on("request", lambda r: sent.append((r.method, r.url, r.headers)))
    # An older page kept the key in localStorage: the first queue page opened removes it.
    page.goto(f"/add-jobs/?queue={queue}")
    page.evaluate("k => localStorage.setItem('reel.queue.apiKey', k)", SERVER_KEY)
    page.reload()
    expect(page.locator("#key-form")).to_be_visible()
    assert storage_dump(page) == {"local": {}, "session": {}, "cookie": ""}

    open_with_key(page, "/add-jobs/", queue)
    page.locator("#file-name").fill("kept.mp4")
    page.get_by_role("button", name="Add job", exact=True).click()
    expect(page.locator("#created tr")).to_have_count(1)
    page.get_by_role("link", name="Encode queue").click()
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator("#key-saved")).to_contain_text("Queue token for this tab")

    stored = storage_dump(page)
    assert SERVER_KEY not in repr(stored) and SERVER_KEY not in page.url
    assert stored["local"] == {} and stored["cookie"] == "" and page.context.cookies() == []
    assert list(stored["session"]) == ["reel.queue.token"]
    token = json.loads(stored["session"]["reel.queue.token"])["token"]
    assert jwt.decode(token, QUEUE_KEY, algorithms=["HS256"])["scope"] == "queue"
    # The key went out once, to be exchanged; every queue call carried the token instead.
    with_key = [(m, u) for m, u, h in sent if h.get("x-api-key") == SERVER_KEY]
    assert with_key == [("POST", f"{client.base_url}/api/auth/queue-token")]
    queue_calls = [h for m, u, h in sent if "/api/jobs" in u]
    assert queue_calls and all(h.get("authorization") == f"Bearer {token}" for h in queue_calls)

    # A token the API refuses (here: expired, though this tab thinks otherwise) sends the operator
    # back to the key prompt, with the reason.
    expired = jwt.encode({"scope": "queue", "iat": 1, "exp": 2}, QUEUE_KEY, algorithm="HS256")
    page.evaluate("t => sessionStorage.setItem('reel.queue.token', JSON.stringify({token: t, expiresAt: Date.now() + 3600e3}))",
                  expired)
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-message")).to_contain_text("type the server API key again")
    expect(page.locator("#key-saved")).to_be_hidden()
    assert storage_dump(page)["session"] == {}

    # "Forget token" clears it.
    open_with_key(page, "/view-jobs/", queue)
    page.get_by_role("button", name="Forget token").click()
    expect(page.locator("#key-form")).to_be_visible()
    assert storage_dump(page) == {"local": {}, "session": {}, "cookie": ""}


def test_an_expired_token_asks_for_the_key_again(page, queue):
    # The page's clock is Playwright's: eight hours pass at once, without waiting for them.
    page.clock.install()
    open_with_key(page, "/add-jobs/", queue)
    page.clock.fast_forward("07:59:00")
    expect(page.locator("#key-saved")).to_be_visible()
    page.clock.fast_forward("00:01:05")
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-message")).to_contain_text("The queue token expired")
    assert page.evaluate("sessionStorage.length") == 0
