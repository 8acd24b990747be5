"""Stand-in `pyodide.ffi` (local runtime only)."""

from local.ffi import JsBuffer, JsException, JsProxy, create_proxy, to_js

__all__ = ["JsBuffer", "JsException", "JsProxy", "create_proxy", "to_js"]
