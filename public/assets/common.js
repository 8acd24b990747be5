// Shared by the pages: calling the API and showing what it answered. Plain ES module, no build.

// Earlier versions of the queue pages kept the server API key here; every page that loads this module
// (all of them, /docs included) deletes it, so a browser that once used them does not keep it for ever.
localStorage.removeItem("reel.queue.apiKey");

/**
 * Call the API on this origin. `auth` is {bearer: token} or {apiKey: key}; `body` is sent as JSON;
 * `headers` are added (e.g. an Idempotency-Key).
 * Never throws: a network failure comes back as status 0 with code "network_error", so every caller
 * shows errors the same way. → {ok, status, data, headers}
 */
export async function request(path, { method = "GET", auth = {}, body, signal, headers: extra = {} } = {}) {
  const headers = { ...extra };
  if (auth.bearer) headers.Authorization = `Bearer ${auth.bearer}`;
  if (auth.apiKey) headers["X-API-Key"] = auth.apiKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, signal, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return { ok: false, status: 0, headers: new Headers(), data: { error: `Network error: ${err.message}`, code: "network_error" } };
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 300), code: "not_json" };
    }
  }
  return { ok: response.ok, status: response.status, data, headers: response.headers };
}

/** One readable text for a failed call: the API's sentence, its status and code, then field details. */
export function describe(result, doing = "") {
  const data = result.data || {};
  const sentence = data.error || data.detail || `HTTP ${result.status}`;
  const where = result.status ? `HTTP ${result.status}` : "no answer";
  const lines = [`${doing ? doing + ": " : ""}${sentence} (${where}${data.code ? `, ${data.code}` : ""})`];
  for (const d of Array.isArray(data.details) ? data.details : []) {
    const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
    lines.push(`• ${loc || "body"}: ${d.msg || d.type || JSON.stringify(d)}`);
  }
  return lines.join("\n");
}

/** Show `text` in an alert element (kind "error" or "ok"); an empty text hides it. */
export function say(element, text, kind = "error") {
  element.textContent = text || "";
  element.className = `alert ${kind}`;
  element.hidden = !text;
}

/** A small element builder: h("td", {className: "x"}, "text", child). */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/** Local date and time of an ISO string or unix seconds; "—" when absent. */
export function when(value) {
  if (value === null || value === undefined || value === "") return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** Like `when`, shorter: the time alone for today (a table cell), the date too otherwise. */
export function whenShort(value) {
  if (value === null || value === undefined || value === "") return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
}

/**
 * Run `task` every `ms` while the tab is visible, and at once when it becomes visible again; `ms` null:
 * only when asked (`now()`). Runs never overlap. → {stop, now}
 */
export function whileVisible(task, ms) {
  let timer = null;
  let stopped = false;
  let running = false;
  let again = false; // asked for while a run was under way: one more run right after it, never two at once
  const schedule = () => {
    clearTimeout(timer);
    if (!stopped && !document.hidden && ms !== null) timer = setTimeout(run, ms);
  };
  const run = async () => {
    clearTimeout(timer);
    if (stopped || document.hidden) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await task();
    } finally {
      running = false;
      if (again) {
        again = false;
        run();
      } else {
        schedule();
      }
    }
  };
  const onVisibility = () => (document.hidden ? clearTimeout(timer) : run());
  document.addEventListener("visibilitychange", onVisibility);
  schedule();
  return {
    now: run,
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    },
  };
}
