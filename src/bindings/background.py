"""Work that goes on after an object's call has answered, within the same invocation."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from pyodide.ffi import create_proxy


def keep_running(ctx: Any, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` as a task the runtime waits for (`ctx.waitUntil`) although the caller has its answer.
    The task crosses into JS as a proxy, destroyed once it settles."""
    task = asyncio.ensure_future(work)
    proxy = create_proxy(task)
    task.add_done_callback(lambda _: proxy.destroy())
    ctx.waitUntil(proxy)
