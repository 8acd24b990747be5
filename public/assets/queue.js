// What the two encode-queue pages share: the queue token (docs/api.md "Queue tokens"), the queue name
// (?queue= in the address, so a link or a reload keeps it) and calls to /api/jobs with both.
import { describe, request } from "/assets/common.js";

// The server API key is never stored: anything that ever runs on this origin could read storage, and the
// key opens every user's data. The page trades it at once for a queue token, which works on the encode
// queue only and for TOKEN_TTL_S at most, and keeps only that, in sessionStorage: this tab's two queue
// pages share it, other tabs and later visits do not, and it is gone when the tab closes.
const TOKEN_STORAGE = "reel.queue.token";
const TOKEN_TTL_S = 8 * 3600; // a working day; the API allows 12 h at most
const QUEUE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const DEFAULT_QUEUE = "default";

const $ = (id) => document.getElementById(id);
let expiryTimer = null;

/** The stored token, {token, expiresAt (ms, this browser's clock)}, or null when none or expired. */
function session() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(TOKEN_STORAGE) || "null");
    if (saved && typeof saved.token === "string" && saved.expiresAt > Date.now()) return saved;
  } catch {
    // unreadable: treated as none, and dropped below
  }
  sessionStorage.removeItem(TOKEN_STORAGE);
  return null;
}

export function queueName() {
  const name = new URLSearchParams(location.search).get("queue");
  return name && QUEUE_PATTERN.test(name) ? name : DEFAULT_QUEUE;
}

/**
 * Call a queue route with the queue token (none when there is none: the API then says 401 itself). A 401
 * to the token it sent means the token is no longer good: it is dropped and the key asked for again.
 */
export async function queueRequest(path, { method = "GET", query = {}, body } = {}) {
  const params = new URLSearchParams({ ...query, queue: queueName() });
  const token = session()?.token;
  const result = await request(`${path}?${params}`, { method, body, auth: token ? { bearer: token } : {} });
  if (result.status === 401 && token && session()?.token === token) {
    endSession("The queue token was refused (it expired, or the service's secrets changed): type the server API key again.");
  }
  return result;
}

/** A failed queue call in words, with what to do about the key when the API refused it (401). */
export function queueFailure(result, doing) {
  const hint = result.status === 401 ? "\nType the server API key above." : "";
  return describe(result, doing) + hint;
}

// The key and queue controls, the same on every queue page: written here once, into the page's
// empty <section id="queue-settings">. The key input has no name: were this script not running, a
// submitted form would put nothing of the key in the address.
const SETTINGS_HTML = `
  <h2>Queue and key</h2>
  <div class="settings">
    <form id="queue-form" class="row" novalidate>
      <label>Queue
        <input id="queue-input" name="queue" maxlength="64" spellcheck="false" autocomplete="off">
      </label>
      <button type="submit" class="secondary">Switch queue</button>
    </form>
    <form id="key-form" class="row" autocomplete="off">
      <label class="grow">Server API key
        <input id="key-input" type="password" spellcheck="false" autocomplete="off" placeholder="one of API_KEYS">
      </label>
      <button type="submit" id="key-submit">Use key</button>
    </form>
    <div id="key-message" class="alert error" role="alert" hidden></div>
    <div id="key-saved" class="row" hidden>
      <span id="key-saved-text"></span>
      <button type="button" class="secondary" id="key-change">Use another key</button>
      <button type="button" class="secondary" id="key-forget">Forget token</button>
    </div>
  </div>
  <p class="hint">The key is not kept: it is sent once, as <code>X-API-Key</code>, for a queue token that works on
    the encode queue only, for ${TOKEN_TTL_S / 3600} hours at most. Only that token is kept, in this tab (sessionStorage), until it
    expires, you forget it or the tab closes. The queue is part of the address (<code>?queue=</code>).</p>
`;

/** Show the controls as they are: a token in this tab, or the key prompt with `message` (if any). */
function showKey(message = "") {
  const saved = session();
  $("key-form").hidden = Boolean(saved);
  $("key-saved").hidden = !saved;
  $("key-message").textContent = message;
  $("key-message").hidden = !message;
  if (saved) {
    $("key-saved-text").textContent =
      `Queue token for this tab, until ${new Date(saved.expiresAt).toLocaleTimeString()}.`;
  }
  clearTimeout(expiryTimer);
  if (saved) {
    expiryTimer = setTimeout(() => endSession("The queue token expired: type the server API key again."),
      saved.expiresAt - Date.now());
  }
}

function endSession(message) {
  sessionStorage.removeItem(TOKEN_STORAGE);
  showKey(message);
}

/** Trade the key for a queue token. → null, or what went wrong in words */
async function exchange(key) {
  const result = await request("/api/auth/queue-token", { method: "POST", auth: { apiKey: key }, body: { ttl_s: TOKEN_TTL_S } });
  if (!result.ok) return describe(result, "The key was not accepted");
  // expires_at is the Worker's clock; kept as this browser's, by the Date header, so a skewed clock
  // neither drops the token early nor keeps sending it late.
  const served = Date.parse(result.headers.get("date") || "");
  const skew = Number.isNaN(served) ? 0 : served - Date.now();
  const expiresAt = Date.parse(result.data.expires_at) - skew;
  sessionStorage.setItem(TOKEN_STORAGE, JSON.stringify({ token: result.data.token, expiresAt }));
  return null;
}

/**
 * Render and wire the key and queue controls every queue page has. `onChange()` runs after the token or
 * the queue changed.
 */
export function setupQueueControls(onChange) {
  $("queue-settings").innerHTML = SETTINGS_HTML;
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("key-input");
    const key = input.value.trim();
    input.value = "";
    if (!key) return;
    $("key-submit").disabled = true;
    try {
      const problem = await exchange(key);
      showKey(problem || "");
      if (!problem) onChange();
    } finally {
      $("key-submit").disabled = false;
    }
  });
  $("key-change").addEventListener("click", () => {
    $("key-form").hidden = false;
    $("key-input").focus();
  });
  $("key-forget").addEventListener("click", () => {
    endSession("");
    onChange();
  });

  const queueInput = $("queue-input");
  const showQueue = () => {
    queueInput.value = queueName();
    // The other queue page, on the same queue.
    for (const link of document.querySelectorAll("a[data-keeps-queue]")) {
      const url = new URL(link.getAttribute("href"), location.href);
      url.searchParams.set("queue", queueName());
      link.href = url.pathname + url.search;
    }
  };
  $("queue-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = queueInput.value.trim();
    if (!QUEUE_PATTERN.test(name)) {
      queueInput.setCustomValidity("1 to 64 of A-Z a-z 0-9 _ -");
      queueInput.reportValidity();
      return;
    }
    const url = new URL(location.href);
    url.searchParams.set("queue", name);
    history.replaceState(history.state, "", url.pathname + url.search);
    showQueue();
    onChange();
  });
  queueInput.addEventListener("input", () => queueInput.setCustomValidity(""));
  showKey();
  showQueue();
}
