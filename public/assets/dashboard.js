// The export dashboard (/): one user's export jobs, live. See docs/api.md "Pages" for the decisions.
import { request, describe, say, whileVisible } from "/assets/common.js";
import { JobFeed, TERMINAL } from "/assets/job-feed.js";
import { JobRow } from "/assets/job-row.js";

// sessionStorage, not localStorage: the token lives as long as this tab, and other tabs or a later visit
// do not inherit a credential they were not given.
const TOKEN_KEY = "reel.dashboard.token";
// The list is re-read now and then to pick up jobs started elsewhere; running jobs have their own feed.
const LIST_MS = 10000;
const PAGE_SIZE = 20;

const $ = (id) => document.getElementById(id);
const errorBox = $("error");
const state = {
  token: null, jobs: new Map(), rows: new Map(), feeds: new Map(), retryKeys: new Map(), cursor: null, olderLoaded: false,
};
let lister = null;

// --- the token -----------------------------------------------------------------------------------
/** `/#token=...`: take it, then drop it from the address bar (and so from history and bookmarks). */
function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (!params.has("token")) return null;
  const token = params.get("token").trim();
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  return token || null;
}

/** The token's claims, for display only (the Worker verifies it): {sub, exp} or null. */
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function useToken(token) {
  forget({ keepError: false });
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  const c = claims(token);
  const expires = c && typeof c.exp === "number" ? new Date(c.exp * 1000) : null;
  $("who-text").textContent = c && c.sub
    ? `Signed in as ${c.sub}${expires ? ` · token ${expires < new Date() ? "expired" : "expires"} ${expires.toLocaleString()}` : ""}`
    : "Using the pasted token";
  $("token-form").hidden = true;
  $("who").hidden = false;
  $("jobs-card").hidden = false;
  lister = whileVisible(listJobs, LIST_MS);
  lister.now();
}

function forget({ keepError = true } = {}) {
  lister?.stop();
  lister = null;
  for (const feed of state.feeds.values()) feed.stop();
  state.feeds.clear();
  state.jobs.clear();
  state.rows.clear();
  state.retryKeys.clear();
  Object.assign(state, { token: null, cursor: null, olderLoaded: false });
  $("jobs").replaceChildren();
  $("token-form").hidden = false;
  $("who").hidden = true;
  $("jobs-card").hidden = true;
  $("more").hidden = true;
  if (!keepError) say(errorBox, "");
}

/** The token was refused: stop everything that would repeat the refusal, and ask for a new one. */
function tokenRefused(text) {
  lister?.stop();
  for (const feed of state.feeds.values()) feed.stop();
  state.feeds.clear();
  say(errorBox, `${text}\nPaste a new token, or open a fresh link from the app.`);
  $("token-form").hidden = false;
}

// --- the jobs ------------------------------------------------------------------------------------
// queued and pending share a rank: a retried job's `retrying` says pending, and its place in the queue may follow.
const rank = (status) => (TERMINAL.has(status) ? 2 : status === "processing" ? 1 : 0);

/** Apply what one source said about a job. Sources race (the list, the socket, polling), so a job never
 *  goes back: within an attempt a terminal state is final, the status only moves forward, progress never
 *  decreases; a later attempt (a retry) starts the job over, and news of an earlier one is dropped. */
function update(jobId, patch) {
  const old = state.jobs.get(jobId);
  const fresh = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined && v !== null));
  const attempt = (j) => j.attempt ?? 1;
  let job;
  if (!old) job = { job_id: jobId, progress: 0, ...fresh };
  else if (fresh.attempt !== undefined && fresh.attempt < attempt(old)) job = old;
  else if (fresh.attempt > attempt(old)) {
    const { type, project_id, created_at, usage, attempts } = old;
    job = { job_id: jobId, type, project_id, created_at, usage, attempts, progress: 0, ...fresh };
  } else if (TERMINAL.has(old.status) || rank(fresh.status ?? old.status) < rank(old.status) ||
             fresh.seq < old.seq) { // an answer older than an event applied (a list read in flight meanwhile)
    // Usage is reported after the end (RunPod's webhook comes last) and only grows: take the larger.
    job = { ...fresh, ...old };
    if ((fresh.usage?.execution_ms ?? -1) >= (old.usage?.execution_ms ?? -1) && fresh.usage) {
      Object.assign(job, { usage: fresh.usage, attempts: fresh.attempts ?? old.attempts });
    }
  } else job = { ...old, ...fresh };
  if (old && attempt(job) === attempt(old)) job.progress = Math.max(old.progress ?? 0, job.progress ?? 0);
  state.jobs.set(jobId, job);

  let row = state.rows.get(jobId);
  if (!row) {
    row = new JobRow(jobId, {
      cancel: () => cancel(jobId), retry: () => retry(jobId), signLink: () => signDownload(jobId),
    });
    state.rows.set(jobId, row);
  }
  row.show(job);
  if (TERMINAL.has(job.status)) {
    state.feeds.get(jobId)?.stop();
    state.feeds.delete(jobId);
    if (job.status === "complete" && job.output_url && !row.linked) signDownload(jobId);
  } else if (!state.feeds.has(jobId) && state.token) {
    const feed = new JobFeed(jobId, state.token, {
      onPatch: (p) => update(jobId, p),
      onMode: (mode, note) => row.feed(mode, note),
      onFatal: (text, status) => (status === 404 ? row.problem(text) : tokenRefused(text)),
    });
    state.feeds.set(jobId, feed);
    feed.start();
  }
}

function placeRows() {
  const order = [...state.jobs.values()].sort((a, b) =>
    (b.created_at || "").localeCompare(a.created_at || "") || b.job_id.localeCompare(a.job_id));
  const list = $("jobs");
  const wanted = order.map((job) => state.rows.get(job.job_id).element);
  if (wanted.some((node, i) => list.children[i] !== node)) list.replaceChildren(...wanted);
  $("empty").hidden = order.length > 0;
}

async function listJobs({ older = false } = {}) {
  const token = state.token;
  if (!token) return;
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (older && state.cursor) query.set("cursor", state.cursor);
  const result = await request(`/api/export/jobs?${query}`, { auth: { bearer: token } });
  if (token !== state.token) return; // the token changed meanwhile
  if (!result.ok) {
    if (result.status === 401 || result.status === 403) tokenRefused(describe(result, "Your jobs could not be listed"));
    else say(errorBox, describe(result, "Your jobs could not be listed (retrying)"));
    return;
  }
  say(errorBox, "");
  for (const job of result.data.jobs) update(job.job_id, job);
  if (older || !state.olderLoaded) state.cursor = result.data.next_cursor;
  state.olderLoaded ||= older;
  $("more").hidden = !state.cursor;
  placeRows();
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function cancel(jobId) {
  const job = state.jobs.get(jobId);
  if (!window.confirm(`Cancel the ${job.type} export ${jobId.slice(0, 8)}…?`)) return;
  const row = state.rows.get(jobId);
  row.busy(true);
  const result = await request(`/api/export/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST", auth: { bearer: state.token } });
  row.busy(false);
  if (result.ok) {
    update(jobId, result.data);
  } else {
    row.problem(describe(result, "Cancel"));
    if (result.data?.code === "already_finished") lister?.now(); // it ended meanwhile: show how
  }
}

/** Run a failed, expired, timed-out or cancelled job again under its id (a new attempt). One key per
 *  intent: a click after an answer that never came (network error, 5xx) sends the same key, so it is
 *  replayed rather than run twice; any definite answer ends the intent. */
async function retry(jobId) {
  const row = state.rows.get(jobId);
  const key = state.retryKeys.get(jobId) ?? newKey();
  state.retryKeys.set(jobId, key);
  row.busy(true);
  row.problem("");
  const result = await request(`/api/export/jobs/${encodeURIComponent(jobId)}/retry`, {
    method: "POST", auth: { bearer: state.token }, headers: { "Idempotency-Key": key },
  });
  row.busy(false);
  if (result.status !== 0 && result.status < 500) state.retryKeys.delete(jobId);
  if (result.ok) {
    row.linked = false;
    update(jobId, result.data.job);
  } else {
    if (result.data?.job) update(jobId, result.data.job); // a 409 says what the job is now
    row.problem(describe(result, "Retry"));
  }
}

/** An Idempotency-Key: random, so two tabs never share one. */
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts (https, localhost)
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A download URL for a completed job's output: its `output_url` answers a short-lived signed URL. */
async function signDownload(jobId) {
  const job = state.jobs.get(jobId);
  const row = state.rows.get(jobId);
  row.linked = true;
  const result = await request(job.output_url, { auth: { bearer: state.token } });
  if (result.ok) row.link(result.data.url, result.data.expires_at, job.output_key);
  else row.problem(describe(result, "Download link"));
  return result.ok ? result.data.url : null;
}

// --- wiring --------------------------------------------------------------------------------------
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token-input").value.trim();
  $("token-input").value = "";
  if (token) useToken(token);
});
$("forget-token").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  forget({ keepError: false });
});
$("refresh").addEventListener("click", () => lister?.now());
$("more").addEventListener("click", () => listJobs({ older: true }));
window.addEventListener("hashchange", () => {
  const token = takeTokenFromFragment();
  if (token) useToken(token);
});

const initial = takeTokenFromFragment() || sessionStorage.getItem(TOKEN_KEY);
if (initial) useToken(initial);
