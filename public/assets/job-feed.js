// How one export job's live state reaches the dashboard: its WebSocket, or polling its status when the
// socket cannot be had (refused, blocked by a proxy, dropped) — the page keeps moving either way. Every
// event carries the job's `seq`: a socket that dropped is opened again with `since=<the last seq seen>`,
// so the Worker replays the steps missed meanwhile (docs/api.md "Live events"), and nothing is applied twice.
import { request, describe, whileVisible } from "/assets/common.js";

export const TERMINAL = new Set(["complete", "error", "cancelled", "expired", "timed_out"]);
/** The ends POST /api/export/jobs/{id}/retry runs again (docs/api.md "Retries"). */
export const RETRYABLE = new Set(["error", "cancelled", "expired", "timed_out"]);
// Polling is the fallback only: one status read every 2 s per running job is cheap for the Worker (one
// Durable Object read) and close enough to live for a progress bar.
const POLL_MS = 2000;
// Some proxies close a WebSocket that is silent for a minute; the Worker answers pings without waking
// the job's (hibernated) object.
const PING_MS = 30000;
// A dropped socket is opened again after 1 s, 2 s, 4 s, ... (at most 30 s), polling meanwhile; a socket
// that brought an event starts the count over.
const RECONNECT_MS = 1000;
const RECONNECT_MAX_MS = 30000;

/** A WebSocket message as a patch of the job's status body (the shape of GET /api/export/status). */
export function patchFromMessage(m) {
  switch (m.type) {
    case "status":
      return { status: m.status, progress: m.progress, message: m.message, output_key: m.output_key, error: m.error,
        attempt: m.attempt, queue_position: m.queue_position };
    case "queued": // waiting for a slot of the GPU endpoint: its place in the turn order moved
      return { status: "queued", queue_position: m.position };
    case "progress":
      return { status: "processing", progress: m.progress, message: m.message };
    case "complete":
      return { status: "complete", progress: 100, output_key: m.output_key, output_url: m.output_url };
    case "error":
    case "expired":
    case "timed_out":
      return { status: m.type, error: m.error };
    case "cancelled":
      return { status: "cancelled" };
    case "retrying": // the job runs again under its id: a new attempt starts over as pending
      return { status: "pending", attempt: m.attempt, progress: 0,
        message: m.error ? `Retrying after: ${m.error}` : "Retrying" };
    default:
      return null; // pong, or a message type this page does not know yet
  }
}

/**
 * Follows one job until `stop()`. Callbacks: `onPatch(patch)` with what changed; `onMode(mode, note)` with
 * "connecting" | "live" | "polling" | "stopped"; `onFatal(text, status)` when the token or the job is refused,
 * after which the feed has stopped (polling again would only repeat the refusal).
 */
export class JobFeed {
  constructor(jobId, token, { onPatch, onMode, onFatal }) {
    Object.assign(this, { jobId, token, onPatch, onMode, onFatal });
    this.ws = null;
    this.ping = null;
    this.poller = null;
    this.reconnect = null;
    this.drops = 0; // sockets in a row that closed before bringing an event
    this.lastSeq = -1; // the seq of the newest event applied (-1: none yet)
    this.stopped = false;
  }

  start() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // Browsers cannot set headers on a WebSocket, hence the token in the query (docs/api.md). The first
    // socket gets the job's status; a later one only what came after the last event seen.
    const since = this.lastSeq >= 0 ? `&since=${this.lastSeq}` : "";
    const url = `${scheme}://${location.host}/api/jobs/${encodeURIComponent(this.jobId)}/ws` +
      `?token=${encodeURIComponent(this.token)}${since}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this.#dropped(`could not open a WebSocket: ${err.message}`);
      return;
    }
    this.ws = ws;
    if (!this.poller) this.onMode("connecting");
    ws.onopen = () => {
      this.poller?.stop(); // live again: the replay brings what polling would have
      this.poller = null;
      this.onMode("live");
      this.ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('{"type":"ping"}'), PING_MS);
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (typeof message.seq === "number") {
        if (message.seq <= this.lastSeq) return; // already applied (from polling, or before the drop)
        this.lastSeq = message.seq;
        this.drops = 0;
      }
      const patch = patchFromMessage(message);
      if (patch) this.onPatch(typeof message.seq === "number" ? { ...patch, seq: message.seq } : patch);
    };
    // An error is always followed by a close; the close decides. A socket that closes while the job still
    // runs (refused upgrade, proxy, network change) hands over to polling until it is open again.
    ws.onclose = (event) => {
      clearInterval(this.ping);
      this.ws = null;
      if (!this.stopped) this.#dropped(`the WebSocket closed (code ${event.code})`);
    };
  }

  stop() {
    this.stopped = true;
    clearInterval(this.ping);
    clearTimeout(this.reconnect);
    this.poller?.stop();
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "done");
    this.ws = null;
    this.onMode("stopped");
  }

  /** The socket is gone before the job ended: poll, and open it again (with `since`) after a backoff. */
  #dropped(why) {
    const wait = Math.min(RECONNECT_MAX_MS, RECONNECT_MS * 2 ** this.drops);
    this.drops += 1;
    clearTimeout(this.reconnect);
    this.reconnect = setTimeout(() => !this.stopped && this.start(), wait);
    const note = `${why}; polling every ${POLL_MS / 1000} s, reconnecting in ${Math.round(wait / 1000)} s`;
    if (this.poller) this.onMode("polling", note);
    else this.#poll(note);
  }

  #poll(note) {
    this.onMode("polling", note);
    // Paused while the tab is hidden; the first read is at once, so no update waits a whole period.
    this.poller = whileVisible(async () => {
      const result = await request(`/api/export/status/${encodeURIComponent(this.jobId)}`, { auth: { bearer: this.token } });
      if (this.stopped) return;
      if (result.ok) {
        // The body is the job as of its event `seq`: a socket opened later asks only for what came after.
        if (typeof result.data.seq === "number") this.lastSeq = Math.max(this.lastSeq, result.data.seq);
        this.onPatch(result.data);
      } else if ([401, 403, 404].includes(result.status)) {
        this.stop();
        this.onFatal(describe(result, "Status of this job"), result.status);
      } else {
        // A 5xx or a network blip: say so and keep polling.
        this.onMode("polling", describe(result, "Last status call failed"));
      }
    }, POLL_MS);
    this.poller.now();
  }
}
