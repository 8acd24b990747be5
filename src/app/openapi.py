"""/openapi.json: FastAPI's document, completed.

- FastAPI adds a 422 with its own `{"detail"}` schema to every operation with parameters; this API
  answers its own error body, listed per route (`app.responses`), so those are removed.
- Worker-signed object URLs and a job's server-sent events, which the entry point serves outside FastAPI
  (as streams), are plain HTTP and are documented here by hand. The job WebSocket (`GET /api/jobs/{job_id}/ws`, also the entry point's)
  is left out: OpenAPI cannot describe a WebSocket's messages, and an HTTP fuzzer cannot upgrade;
  docs/api.md describes it, and the integration tests cover its refusals.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import bounds
from app.responses import errors

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
BOUNDED_JSON_REF = {"$ref": "#/components/schemas/BoundedJson"}
# What any JSON value in a body may be (`bounds.parse_json`): the depth bound is in the description only.
BOUNDED_JSON = {
    "description": f"Any JSON value within the JSON body rules: numbers within ±{bounds.MAX_INT}, no NaN or "
                   f"Infinity, arrays and objects nested at most {bounds.MAX_JSON_DEPTH} deep in the whole body",
    "anyOf": [{"type": "null"}, {"type": "boolean"}, {"type": "string"},
              {"type": "number", "minimum": -bounds.MAX_INT, "maximum": bounds.MAX_INT},
              {"type": "array", "items": BOUNDED_JSON_REF},
              {"type": "object", "additionalProperties": BOUNDED_JSON_REF}],
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _ERROR}


def _object_url() -> dict[str, Any]:
    params = [
        {"name": "key", "in": "path", "required": True, "description": "The full key, with the user prefix",
         "schema": {"type": "string"}},
        {"name": "exp", "in": "query", "required": True, "description": "Expiry, unix seconds",
         "schema": {"type": "string", "pattern": bounds.anchored(bounds.DECIMAL_PATTERN)}},
        {"name": "ct", "in": "query", "required": False,
         "description": "PUT only: the content type the upload URL is bound to (signed)",
         "schema": {"type": "string", "maxLength": 200}},
        {"name": "sig", "in": "query", "required": True,
         "description": 'hex HMAC-SHA256(URL_SIGNING_SECRET, "{METHOD}\\n{key}\\n{exp}"), with "\\n{ct}" for a PUT',
         "schema": {"type": "string", "pattern": bounds.anchored(bounds.HMAC_HEX_PATTERN)}},
    ]
    refused = {"403": _error("`forbidden`: missing, invalid or expired signature"),
               "500": _error("`config_error` (URL_SIGNING_SECRET is not set) or `internal_error`")}
    described = ("Served by the entry point for Worker-signed URLs (local mode, no R2 S3 keys); bodies stream "
                 "to and from R2. The URL comes from /api/storage/presigned-url or /api/storage/upload-url.")
    return {
        "parameters": params,
        "get": {"tags": ["storage"], "summary": "Download an object (Worker-signed URL)", "operationId": "object_get",
                "description": described + " A GET signature also allows HEAD; a single `Range: bytes=` is served. "
                               "Every answer carries `X-Content-Type-Options: nosniff` and a sandbox CSP; video and "
                               "raster images are served `inline`, anything else as an `attachment`.",
                "responses": {"200": {"description": "The object", "content": {"*/*": {}}},
                              "206": {"description": "The requested range", "content": {"*/*": {}}},
                              "404": _error("`not_found`: no such object"),
                              "416": _error("`range_not_satisfiable`"), **refused}},
        "put": {"tags": ["storage"], "summary": "Upload an object (Worker-signed URL)", "operationId": "object_put",
                "description": described + " Needs Content-Length and the Content-Type the URL was issued for "
                               "(`ct`), which is stored with the object.",
                "requestBody": {"required": True, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {"200": {"description": "Stored", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["key", "size", "etag"], "properties": {
                        "key": {"type": "string"}, "size": {"type": "integer"}, "etag": {"type": "string"}}}}}},
                    "411": _error("`length_required`: no Content-Length"),
                    "415": _error("`content_type_mismatch`: the PUT's Content-Type is not the one the URL is bound to"),
                    "413": _error(f"`payload_too_large`: over {bounds.MAX_UPLOAD_BYTES} bytes (R2's single-PUT limit)"),
                    **refused}},
    }



# One event of the stream, as OpenAPI 3.1 describes a `text/event-stream` item (the schema applies to
# each parsed event): `data` is the WebSocket message as JSON text, `id` its seq, `event` its type.
_SSE_EVENT = {"type": "object", "required": ["data"], "properties": {
    "data": {"type": "string", "contentMediaType": "application/json"},
    "event": {"type": "string"}, "id": {"type": "string", "pattern": "^[0-9]+$"},
    "retry": {"type": "integer", "minimum": 0}}}

def _job_events(status: dict[str, Any]) -> dict[str, Any]:
    """`GET /api/export/jobs/{job_id}/events`, authenticated like the status route `status` (its security and
    X-User-Id header are taken from there, so the two never differ)."""
    params = [
        {"name": "job_id", "in": "path", "required": True, "description": "The job id returned by start",
         "schema": {"type": "string", "pattern": bounds.anchored(bounds.JOB_ID_PATTERN)}},
        {"name": "since", "in": "query", "required": False,
         "description": "The seq of the last event seen: send only the events after it", "schema": {
             "type": "integer", "minimum": 0, "maximum": bounds.MAX_INT}},
        {"name": "Last-Event-ID", "in": "header", "required": False,
         "description": "What an EventSource sends when it reconnects (the last `id:` it got); wins over `since`",
         "schema": {"type": "string", "pattern": bounds.anchored(bounds.DECIMAL_PATTERN)}},
        {"name": "token", "in": "query", "required": False,
         "description": "A user token, for an EventSource (which cannot set headers): instead of Authorization",
         "schema": {"type": "string", "maxLength": 4096}},
        *[p for p in status.get("parameters", ()) if p.get("in") == "header"],
    ]
    refused = errors(401, 403, 404, 422, 500, 503, user_scoped=True, notes={
        404: "`not_found`: no such job, or another user's (its existence is not revealed)",
        422: "`validation_error`: `since` or `Last-Event-ID` is not a non-negative integer",
        503: "`too_many_streams`: the job (100) or the user (500) has as many streams open as it may; "
             "try again after Retry-After"})
    described = (
        "The job's events as server-sent events, for clients that cannot hold a WebSocket: each is "
        "`id: <seq>`, `event: <type>` and `data: <the WebSocket message as JSON>`. Without `since` or "
        "`Last-Event-ID` the stream starts with the job's `status` event; with one, with the events after it "
        "(or a `status` snapshot when the job's event log no longer has them all), then live ones. A comment "
        "line comes every 20 s while nothing happens; the stream ends after the event that ends the job. "
        "A finished job the client has every event of answers 204, which stops an EventSource reconnecting.")
    return {"get": {
        "tags": ["export jobs"], "summary": "A job's events as a stream (server-sent events)",
        "operationId": "job_events", "description": described, "parameters": params,
        "security": status.get("security", []),
        "responses": {
            "200": {"description": "`text/event-stream`, `Cache-Control: no-store`",
                    "content": {"text/event-stream": {"schema": _SSE_EVENT}}},
            "204": {"description": "The job has ended and the client has every event: nothing more will come"},
            **{str(code): _error(answer["description"]) for code, answer in refused.items()}}}}


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document with its own 422s removed and the entry point's routes added."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            ref = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
            if ref == "#/components/schemas/HTTPValidationError":
                del responses["422"]
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(name, None)
    schema["components"]["schemas"]["BoundedJson"] = BOUNDED_JSON
    schema["paths"]["/api/storage/object/{key}"] = _object_url()
    schema["paths"]["/api/export/jobs/{job_id}/events"] = _job_events(schema["paths"]["/api/export/status/{job_id}"]["get"])
    return schema


def install_openapi(api: FastAPI) -> None:
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = complete(generate())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
