// /add-jobs/: add one encode job or many (POST /api/jobs), and list what was created.
import { h, say, when } from "/assets/common.js";
import { queueFailure, queueName, queueRequest, setupQueueControls } from "/assets/queue.js";

const $ = (id) => document.getElementById(id);
const errorBox = $("error");
const notice = $("notice");

/**
 * The bulk box as the body of POST /api/jobs: a JSON array as it is (the API checks it), otherwise one job
 * per line, `file_name` or `file_name,crf,preset`, each line getting `maxAttempts` and `priority` when given.
 * The last two commas split, so a line with fewer commas has fewer fields; empty fields are left out rather
 * than sent as "".
 * → {jobs} or {problem}
 */
export function parseBulk(text, maxAttempts, priority) {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    try {
      const jobs = JSON.parse(trimmed);
      return Array.isArray(jobs) ? { jobs } : { problem: "The JSON must be an array of jobs." };
    } catch (err) {
      return { problem: `That is not valid JSON: ${err.message}` };
    }
  }
  const jobs = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const parts = line.split(",");
    const fields = parts.length >= 3
      ? [parts.slice(0, -2).join(","), parts.at(-2), parts.at(-1)]
      : [parts[0], parts[1], undefined];
    const [fileName, crf, preset] = fields.map((f) => (f === undefined ? "" : f.trim()));
    const job = { file_name: fileName };
    if (crf) job.crf = crf;
    if (preset) job.preset = preset;
    if (maxAttempts !== undefined) job.max_attempts = maxAttempts;
    if (priority !== undefined) job.priority = priority;
    jobs.push(job);
  }
  return { jobs };
}

/** An optional whole number field: undefined when empty (the API's default applies). */
function optionalInt(input) {
  const text = input.value.trim();
  return text === "" ? undefined : Number(text);
}

async function add(body, what, button) {
  say(errorBox, "");
  say(notice, "", "ok");
  button.disabled = true;
  try {
    const result = await queueRequest("/api/jobs", { method: "POST", body });
    if (!result.ok) {
      say(errorBox, queueFailure(result, `${what} not added`));
      return false;
    }
    showCreated(result.data);
    say(notice, `Added ${result.data.length} job${result.data.length === 1 ? "" : "s"} to queue "${queueName()}".`, "ok");
    return true;
  } finally {
    button.disabled = false;
  }
}

function showCreated(rows) {
  const cell = (value) => h("td", {}, value === null || value === undefined ? "—" : String(value));
  const fresh = rows.map((row) => h("tr", { dataset: { jobId: row.id } },
    cell(row.id), h("td", { className: "file" }, row.file_name), cell(row.crf), cell(row.preset),
    h("td", {}, h("span", { className: `status status-${row.status}` }, row.status)),
    cell(row.priority), cell(row.max_attempts), cell(when(row.created_at))));
  $("created").prepend(...fresh);
  $("created-card").hidden = false;
}

$("single-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { file_name: $("file-name").value };
  const crf = $("crf").value.trim();
  const preset = $("preset").value.trim();
  const maxAttempts = optionalInt($("max-attempts"));
  const priority = optionalInt($("priority"));
  if (crf) body.crf = crf;
  if (preset) body.preset = preset;
  if (maxAttempts !== undefined) body.max_attempts = maxAttempts;
  if (priority !== undefined) body.priority = priority;
  if (await add(body, "Job", event.submitter || $("single-form").querySelector("button"))) {
    $("file-name").value = "";
    $("file-name").focus();
  }
});

const countBulk = () => {
  const { jobs, problem } = parseBulk($("bulk-text").value, undefined);
  $("bulk-count").textContent = problem ? "" : jobs.length ? `${jobs.length} job${jobs.length === 1 ? "" : "s"}` : "";
};
$("bulk-text").addEventListener("input", countBulk);

$("bulk-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { jobs, problem } = parseBulk($("bulk-text").value, optionalInt($("bulk-max-attempts")),
    optionalInt($("bulk-priority")));
  if (problem) {
    say(errorBox, problem);
    return;
  }
  if (jobs.length === 0) {
    say(errorBox, "Nothing to add: write one file name per line.");
    return;
  }
  if (await add(jobs, "Jobs", $("bulk-submit"))) {
    $("bulk-text").value = "";
    countBulk();
  }
});

setupQueueControls(() => {
  say(errorBox, "");
  say(notice, "", "ok");
});
