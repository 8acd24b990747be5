"""Stand-ins for `pyodide.ffi` names, shared by the shims and the runtime."""

from __future__ import annotations

from typing import Any


class JsException(Exception):  # noqa: N818 - the real name
    """What a JS error looks like from Python (also how RPC exceptions reach a caller)."""

    @property
    def message(self) -> str:
        return str(self)


class JsProxy:
    """Marker base: nothing local is a real JS proxy."""


class JsBuffer(JsProxy):
    """An ArrayBuffer-like value: `to_bytes()`, `to_py()`, `bytes(x)`."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)

    def to_bytes(self) -> bytes:
        return self._data

    def to_py(self) -> bytes:
        return self._data

    def __bytes__(self) -> bytes:
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    @property
    def byteLength(self) -> int:  # noqa: N802 - JS name
        return len(self._data)


def to_js(obj: Any, *, dict_converter: Any = None, create_pyproxies: bool = True, depth: int = -1) -> Any:
    """Locally the runtime takes Python values directly, so conversion is the identity."""
    return obj


def create_proxy(obj: Any, **_kwargs: Any) -> Any:
    return obj
