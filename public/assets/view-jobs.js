// /view-jobs/: the encode queue's rows by status, a page at a time, with counts, leases, delete, requeue.
import { h, say, whileVisible } from "/assets/common.js";
import { queueFailure, queueRequest, setupQueueControls } from "/assets/queue.js";
import { leaseText, rowCells } from "/assets/queue-rows.js";

// Every 3 s: a worker's claim, heartbeat or finish shows within a moment, and a list is one indexed query
// in the queue's object. Paused while the tab is hidden.
const REFRESH_MS = 3000;
const STATUSES = ["pending", "in_progress", "finished", "dead"];

const $ = (id) => document.getElementById(id);
const errorBox = $("error");
const notice = $("notice");
const view = { status: "all", limit: 20, offset: 0, total: 0 };
const rows = new Map(); // id -> {tr, signature, row}
let serverOffsetS = 0; // the Worker's clock minus ours, from the Date header: leases are in server time
let refresher = null;

function readAddress() {
  const params = new URLSearchParams(location.search);
  const status = params.get("status");
  view.status = [...STATUSES, "all"].includes(status) ? status : "all";
  const limit = Number(params.get("limit"));
  view.limit = [20, 50, 100].includes(limit) ? limit : 20;
  view.offset = Math.max(0, Math.floor(Number(params.get("offset")) || 0));
}

/** Keep the view in the address, so a reload or a shared link shows the same page. */
function writeAddress() {
  const url = new URL(location.href);
  for (const [key, value, plain] of [["status", view.status, "all"], ["limit", view.limit, 20], ["offset", view.offset, 0]]) {
    if (value === plain) url.searchParams.delete(key);
    else url.searchParams.set(key, String(value));
  }
  history.replaceState(history.state, "", url.pathname + url.search);
  $("status-filter").value = view.status;
  $("page-size").value = String(view.limit);
}

async function refresh() {
  const query = { status: view.status, limit: String(view.limit), offset: String(view.offset) };
  const [list, stats] = await Promise.all([queueRequest("/api/jobs", { query }), queueRequest("/api/jobs/stats")]);
  if (!list.ok || !stats.ok) {
    const failed = list.ok ? stats : list;
    say(errorBox, queueFailure(failed, "The queue could not be read"));
    return;
  }
  say(errorBox, "");
  const date = Date.parse(list.headers.get("date") || "");
  if (!Number.isNaN(date)) serverOffsetS = (date - Date.now()) / 1000;
  view.total = Number(list.headers.get("x-total-count") ?? list.data.length);
  if (list.data.length === 0 && view.offset > 0 && view.total > 0) {
    // Rows went away (deleted, or moved to another status) under the last page: show the last one left.
    view.offset = Math.floor((view.total - 1) / view.limit) * view.limit;
    writeAddress();
    return refresh();
  }
  showStats(stats.data);
  showRows(list.data);
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

function showStats(counts) {
  const chips = [...STATUSES, "all"].map((status) => {
    const count = status === "all" ? counts.total : counts[status];
    const chip = h("button", { type: "button", dataset: { status }, "aria-pressed": String(view.status === status) },
      h("span", { className: "count" }, String(count ?? 0)),
      h("span", { className: "name" }, status === "all" ? "total" : status.replace("_", " ")));
    chip.addEventListener("click", () => setView({ status, offset: 0 }));
    return chip;
  });
  $("stats").replaceChildren(...chips);
  // Claims held open (`wait_s`) by workers waiting for a job: they take the next one at once.
  const waiting = counts.waiting ?? 0;
  $("waiting").textContent = waiting ? `${waiting} claim${waiting === 1 ? "" : "s"} waiting ·` : "";
}

function showRows(list) {
  const seen = new Set();
  const ordered = list.map((row) => {
    seen.add(row.id);
    const signature = JSON.stringify(row);
    const known = rows.get(row.id);
    if (known && known.signature === signature) return known.tr;
    const tr = h("tr", { dataset: { jobId: row.id, status: row.status } },
      ...rowCells(row, { remove: () => remove(row), requeue: () => requeue(row) }));
    rows.set(row.id, { tr, signature, row });
    return tr;
  });
  for (const id of rows.keys()) if (!seen.has(id)) rows.delete(id);
  const body = $("rows");
  if (ordered.length !== body.children.length || ordered.some((tr, i) => body.children[i] !== tr)) body.replaceChildren(...ordered);
  tickLeases();
  $("empty").hidden = list.length > 0;
  const first = list.length ? view.offset + 1 : 0;
  $("range").textContent = `${first}–${view.offset + list.length} of ${view.total}`;
  $("prev").disabled = view.offset === 0;
  $("next").disabled = view.offset + view.limit >= view.total;
}

/** Leases count down between refreshes. */
function tickLeases() {
  const now = Date.now() / 1000 + serverOffsetS;
  for (const { tr, row } of rows.values()) {
    const cell = tr.querySelector("td.lease");
    const { text, kind } = leaseText(row, now);
    const span = cell.firstElementChild;
    if (span.textContent !== text) span.textContent = text;
    span.className = kind;
  }
}

async function remove(row) {
  if (!window.confirm(`Delete job ${row.id} (${row.file_name})?`)) return;
  const result = await queueRequest(`/api/jobs/${row.id}`, { method: "DELETE" });
  if (result.ok) say(notice, `Deleted job ${row.id}.`, "ok");
  else say(errorBox, queueFailure(result, `Job ${row.id} was not deleted`));
  refresher.now();
}

async function requeue(row) {
  const result = await queueRequest(`/api/jobs/${row.id}/requeue`, { method: "POST" });
  if (result.ok) say(notice, `Job ${row.id} is pending again (attempts reset).`, "ok");
  else say(errorBox, queueFailure(result, `Job ${row.id} was not requeued`));
  refresher.now();
}

function setView(change) {
  Object.assign(view, change);
  writeAddress();
  say(notice, "", "ok");
  refresher.now();
}

function setAutoRefresh(on) {
  refresher?.stop();
  // Off: the same runner, run only when asked (filters, buttons, "Refresh now").
  refresher = whileVisible(refresh, on ? REFRESH_MS : null);
}

readAddress();
writeAddress();
$("status-filter").addEventListener("change", (e) => setView({ status: e.target.value, offset: 0 }));
$("page-size").addEventListener("change", (e) => setView({ limit: Number(e.target.value), offset: 0 }));
$("prev").addEventListener("click", () => setView({ offset: Math.max(0, view.offset - view.limit) }));
$("next").addEventListener("click", () => setView({ offset: view.offset + view.limit }));
$("refresh").addEventListener("click", () => refresher.now());
$("auto-refresh").addEventListener("change", (e) => setAutoRefresh(e.target.checked));
setupQueueControls(() => setView({ offset: 0 }));
setInterval(tickLeases, 1000);
setAutoRefresh($("auto-refresh").checked);
refresher.now();
