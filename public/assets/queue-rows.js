// The cells of one encode-queue row on /view-jobs/ (the row's fields: docs/api.md "Encode queue").
import { h, when, whenShort } from "/assets/common.js";

/** What the lease column says at server time `now` (unix s): {text, kind}. */
export function leaseText(row, now) {
  if (row.status === "in_progress" && row.lease_expires_at !== null && row.lease_expires_at !== undefined) {
    const left = Math.round(row.lease_expires_at - now);
    return left > 0
      ? { text: `expires in ${left} s`, kind: "lease-live" }
      : { text: `expired ${-left} s ago`, kind: "lease-expired" };
  }
  if (row.status === "pending" && row.available_at > now) {
    return { text: `retry in ${Math.ceil(row.available_at - now)} s`, kind: "muted" };
  }
  return { text: "—", kind: "muted" };
}

const text = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));

export function rowCells(row, { remove, requeue }) {
  const times = [["created", row.created_at], ["started", row.started], ["finished", row.finished]]
    .filter(([, t]) => t !== null && t !== undefined)
    .map(([label, t]) => h("div", { className: "small", title: when(t) }, `${label} ${whenShort(t)}`));
  const lease = h("td", { className: "lease" }, h("span", { className: "muted" }, "—"));
  if (row.status === "in_progress") {
    lease.append(h("div", { className: "small muted" }, `${text(row.lease_s)} s lease`),
      h("div", { className: "small mono", title: text(row.lease_id) }, `${text(row.lease_id).slice(0, 12)}`));
  }
  const actions = h("td", { className: "actions" });
  if (row.status === "dead") {
    const again = h("button", { type: "button", className: "secondary requeue" }, "Requeue");
    again.addEventListener("click", requeue);
    actions.append(again, " ");
  }
  const del = h("button", { type: "button", className: "danger delete" }, "Delete");
  del.addEventListener("click", remove);
  actions.append(del);
  return [
    h("td", { className: "id mono" }, String(row.id)),
    h("td", { className: "file" }, row.file_name),
    h("td", {}, `${text(row.crf)} / ${text(row.preset)}`),
    h("td", {}, h("span", { className: `status status-${row.status}` }, row.status.replace("_", " "))),
    // Higher first; claims age older jobs ahead (docs/api.md "Encode queue"). Rows from before priorities: 0.
    h("td", { className: "priority", title: "priority 0-9, higher first" }, String(row.priority ?? 0)),
    h("td", { className: "attempts" }, `${row.attempts}/${row.max_attempts}`),
    lease,
    h("td", { className: "times" }, times),
    h("td", { className: "error-text" }, text(row.error)),
    actions,
  ];
}
