"""What the entry point reads from an incoming request that the Workers SDK's wrapper cannot give.

`Request.method` maps the method onto `http.HTTPMethod` and raises for any other (e.g. `QUERY`),
so the method is read from the JS request itself.
"""

from __future__ import annotations

from typing import Any


def method(request: Any) -> str:
    """The request's method as sent, upper-case."""
    return str(request.js_object.method).upper()
