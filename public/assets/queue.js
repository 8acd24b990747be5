// What the two encode-queue pages share: the server API key (kept in localStorage), the queue name
// (?queue= in the address, so a link or a reload keeps it) and calls to /api/jobs with both.
import { describe, request } from "/assets/common.js";

// localStorage: an operator types the key once per browser, as the pages promise. The pages load no
// third-party script, so nothing else on this origin reads it; "Forget" removes it.
const KEY_STORAGE = "reel.queue.apiKey";
const QUEUE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const DEFAULT_QUEUE = "default";

const $ = (id) => document.getElementById(id);

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function queueName() {
  const name = new URLSearchParams(location.search).get("queue");
  return name && QUEUE_PATTERN.test(name) ? name : DEFAULT_QUEUE;
}

/** Call a queue route: the key as X-API-Key (none when not set: the API then says 401 itself). */
export function queueRequest(path, { method = "GET", query = {}, body } = {}) {
  const params = new URLSearchParams({ ...query, queue: queueName() });
  const key = apiKey();
  return request(`${path}?${params}`, { method, body, auth: key ? { apiKey: key } : {} });
}

/** A failed queue call in words, with what to do about the key when the API refused it (401). */
export function queueFailure(result, doing) {
  const hint = result.status !== 401 ? "" : apiKey() ? "\nCheck the server API key above (Change key)."
    : "\nSet the server API key above.";
  return describe(result, doing) + hint;
}

// The key and queue controls, the same on every queue page: written here once, into the page's
// empty <section id="queue-settings">.
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
        <input id="key-input" name="api-key" type="password" spellcheck="false" placeholder="one of API_KEYS">
      </label>
      <button type="submit">Save key</button>
    </form>
    <div id="key-saved" class="row" hidden>
      <span>A server API key is saved in this browser.</span>
      <button type="button" class="secondary" id="key-change">Change key</button>
      <button type="button" class="secondary" id="key-forget">Forget key</button>
    </div>
  </div>
  <p class="hint">The key is kept in this browser's localStorage until you forget it; it is sent only to this
    service, as <code>X-API-Key</code>. The queue is part of the address (<code>?queue=</code>).</p>
`;

/**
 * Render and wire the key and queue controls every queue page has. `onChange()` runs after the key or
 * the queue changed.
 */
export function setupQueueControls(onChange) {
  $("queue-settings").innerHTML = SETTINGS_HTML;
  const showKey = () => {
    const saved = Boolean(apiKey());
    $("key-form").hidden = saved;
    $("key-saved").hidden = !saved;
  };
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    $("key-input").value = "";
    if (!key) return;
    localStorage.setItem(KEY_STORAGE, key);
    showKey();
    onChange();
  });
  $("key-change").addEventListener("click", () => {
    $("key-form").hidden = false;
    $("key-saved").hidden = true;
    $("key-input").focus();
  });
  $("key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    showKey();
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
