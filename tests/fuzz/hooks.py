"""Schemathesis hooks, loaded by the CLI through SCHEMATHESIS_HOOKS=tests.fuzz.hooks.

They supply what a schema cannot, and nothing more:
- a callback `sig` that is well formed (64 hex digits) is replaced by the real signature of the
  generated job id, so callbacks get past the signature to the body rules and the job lookup; a
  malformed one is sent as generated (and must be refused);
- the cross-field rules the API documents but JSON Schema cannot state (`end_frame >= start_frame`,
  `end_time > start_time`, a crop window inside the frame: `x + width <= 1`, `y + height <= 1`) are
  made to hold when the values are numbers, so schema-valid starts are valid starts;
- half of the starts whose `input_key` is a string name the object `UPLOADED_KEY` (uploaded by the
  runner), so starts are accepted and create real jobs; the other half keep the generated key and
  meet the key rules and the `input_not_found` check;
- a valid `wait_s` over 1 on a claim or a job's status becomes 1: a long poll behaves the same at 1 s as
  at 20 or 30 s when nothing happens (the empty queue's 404, the job's body as it is, after the wait),
  and that long per generated call would take the run's whole budget; invalid values are sent as
  generated (and must be refused);
- with FUZZ_STATUS_LOG set, every answer's status is appended to that file, one line per call
  (`METHOD PATH STATUS`), for the runner's summary.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

import schemathesis

from bounds import HMAC_HEX_PATTERN
from tests.conftest import SECRETS

UPLOADED_KEY = "working_videos/fuzz-input.mp4"
_CALLBACK_PATHS = ("/api/runpod/callback/{job_id}", "/api/jobs/{job_id}/do")
_START = re.compile(r"/api/export/(overlay|framing|annotate)/start")
_HEX64 = re.compile(HMAC_HEX_PATTERN)
_CLAIM = "/api/jobs/claim"
_STATUS = re.compile(r"/api/export/(\{[a-z_]+\}/)?status/\{job_id\}")


def _sign_callback(case) -> None:
    job_id = (case.path_parameters or {}).get("job_id")
    sig = (case.query or {}).get("sig")
    if isinstance(job_id, str) and isinstance(sig, str) and _HEX64.fullmatch(sig):
        case.query["sig"] = hmac.new(SECRETS["CALLBACK_SECRET"].encode(), job_id.encode(), hashlib.sha256).hexdigest()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _order(items: object, first: str, last: str, strictly: bool) -> None:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and _is_number(item.get(first)) and _is_number(item.get(last)):
            low, high = sorted((item[first], item[last]))
            if strictly and low == high:
                high = low + 1
            item[first], item[last] = low, high


def _inside_frame(items: object) -> None:
    """Move a crop window left or up until it fits (width and height are at most 1 by the schema)."""
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        for pos, size in (("x", "width"), ("y", "height")):
            if _is_number(item.get(pos)) and _is_number(item.get(size)) and item[pos] + item[size] > 1:
                item[pos] = max(0, 1 - item[size])


def _fix_start(case) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    params = body.get("params")
    if isinstance(params, dict):
        _order(params.get("highlight_regions"), "start_frame", "end_frame", strictly=False)
        _order(params.get("clips"), "start_time", "end_time", strictly=True)
        _inside_frame(params.get("crop_keyframes"))
    key = body.get("input_key")
    if isinstance(key, str) and len(key) % 2 == 0:
        body["input_key"] = UPLOADED_KEY


def _short_wait(case) -> None:
    wait = (case.query or {}).get("wait_s")
    if _is_number(wait) and 1 < wait <= 30 and float(wait).is_integer():
        case.query["wait_s"] = 1


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    if case.operation.path in _CALLBACK_PATHS:
        _sign_callback(case)
    elif _START.fullmatch(case.operation.path):
        _fix_start(case)
    elif case.operation.path == _CLAIM or _STATUS.fullmatch(case.operation.path):
        _short_wait(case)


@schemathesis.hook
def after_call(context, case, response) -> None:
    log = os.environ.get("FUZZ_STATUS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{case.method.upper()} {case.operation.path} {response.status_code}\n")
