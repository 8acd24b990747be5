// One export job on the dashboard: built once, then updated in place (so a button keeps its focus and a
// progress bar moves instead of being redrawn).
import { h, when } from "/assets/common.js";
import { RETRYABLE } from "/assets/job-feed.js";

const FEED_LABELS = { connecting: "connecting…", live: "live", polling: "polling", stopped: "" };
const FAILED = { error: "Failed", expired: "Expired", timed_out: "Timed out" };

/** A job's `usage` in a few words: "GPU 12.4 s · $0.0038 · waited 3.1 s", or "" before RunPod reported. */
export function usageText(usage) {
  if (!usage || (usage.execution_ms == null && usage.queue_ms == null)) return "";
  const parts = [];
  if (usage.execution_ms != null) parts.push(`GPU ${(usage.execution_ms / 1000).toFixed(1)} s`);
  if (usage.cost_usd != null) parts.push(`$${usage.cost_usd.toFixed(4)}`);
  if (usage.queue_ms != null) parts.push(`waited ${(usage.queue_ms / 1000).toFixed(1)} s`);
  return parts.join(" · ");
}

export class JobRow {
  constructor(jobId, { cancel, retry, signLink }) {
    this.linked = false;
    this.attemptShown = null;
    this.parts = {
      type: h("span", { className: "type" }),
      status: h("span", { className: "status" }),
      id: h("code", { className: "job-id", title: jobId }, `${jobId.slice(0, 8)}…`),
      project: h("span", { className: "muted" }),
      attempt: h("span", { className: "attempt", hidden: true }),
      feed: h("span", { className: "feed", hidden: true }),
      bar: h("progress", { max: 100, value: 0 }),
      pct: h("span", { className: "pct" }, "0 %"),
      message: h("div", { className: "message muted", hidden: true }),
      error: h("div", { className: "job-error", hidden: true }),
      download: h("a", { className: "download", hidden: true, rel: "noopener" }, "Download"),
      cancel: h("button", { type: "button", className: "danger cancel", hidden: true }, "Cancel"),
      retry: h("button", { type: "button", className: "secondary retry", hidden: true }, "Retry"),
      times: h("span", { className: "muted" }),
      usage: h("span", { className: "usage", hidden: true }),
    };
    const p = this.parts;
    p.bar.setAttribute("aria-label", `Progress of job ${jobId}`);
    p.cancel.addEventListener("click", cancel);
    p.retry.addEventListener("click", retry);
    // A signed URL expires (1 h by default): one older than that is renewed before following it.
    p.download.addEventListener("click", async (event) => {
      if (Date.parse(p.download.dataset.expiresAt) > Date.now() + 5000) return;
      event.preventDefault();
      const url = await signLink();
      if (url) location.assign(url);
    });
    this.element = h("li", { className: "job", dataset: { jobId } },
      h("div", { className: "top" }, p.type, p.status, p.attempt, p.project, p.id, p.feed),
      h("div", { className: "bar" }, p.bar, p.pct),
      p.message, p.error,
      h("div", { className: "actions" }, p.download, p.cancel, p.retry, p.times, p.usage));
  }

  show(job) {
    const p = this.parts;
    const running = job.status === "queued" || job.status === "pending" || job.status === "processing";
    this.element.className = `job is-${job.status}`;
    p.type.textContent = job.type || "export";
    // A queued job waits for one of the GPU endpoint's slots: "queued · #3" is its place in the turn order.
    const place = job.status === "queued" && job.queue_position ? ` · #${job.queue_position}` : "";
    p.status.textContent = `${job.status}${place}`;
    p.status.title = place ? "Waiting for a GPU slot: its place in the queue" : "";
    p.status.className = `status status-${job.status}`;
    p.project.textContent = job.project_id === undefined ? "" : `project ${job.project_id}`;
    p.bar.value = job.progress;
    p.pct.textContent = `${job.progress} %`;
    p.message.textContent = job.message || "";
    p.message.hidden = !job.message || !running;
    // A failure says why; a new attempt (a retry) clears what was said about the last one.
    const attempt = job.attempt ?? 1;
    if (FAILED[job.status]) this.problem(`${FAILED[job.status]}: ${job.error || "no reason given"}`);
    else if (attempt !== this.attemptShown) this.problem("");
    this.attemptShown = attempt;
    p.attempt.textContent = `attempt ${attempt}`;
    p.attempt.hidden = attempt < 2;
    p.cancel.hidden = !running;
    p.retry.hidden = !RETRYABLE.has(job.status);
    p.usage.textContent = usageText(job.usage);
    p.usage.hidden = !p.usage.textContent;
    p.usage.title = "GPU time and cost over every attempt, as RunPod reported them";
    const finished = job.completed_at ? ` · finished ${when(job.completed_at)}` : "";
    p.times.textContent = `created ${when(job.created_at)}${finished}`;
    if (!running) this.feed("stopped");
  }

  feed(mode, note) {
    const p = this.parts;
    p.feed.textContent = FEED_LABELS[mode] ?? mode;
    p.feed.className = `feed ${mode}`;
    p.feed.hidden = !p.feed.textContent;
    p.feed.title = note || "";
  }

  link(url, expiresAt, outputKey) {
    const a = this.parts.download;
    a.href = url;
    a.dataset.expiresAt = expiresAt;
    a.download = (outputKey || "").split("/").pop() || "";
    a.hidden = false;
  }

  problem(text) {
    this.parts.error.textContent = text;
    this.parts.error.hidden = !text;
  }

  busy(on) {
    this.parts.cancel.disabled = on;
    this.parts.retry.disabled = on;
  }
}
