"""Durable Object namespaces, stubs and object hosts for the stand-in runtime.

An *ObjectHost* is the runtime's side of one object: its storage, its accepted WebSockets, its
event lock and (while it is in memory) its instance. Behaviours that break code on Cloudflare are
kept: one event at a time per object (the lock is released only while the object awaits outbound
`fetch`, like input gates), eviction after `idle_s` without events with a fresh `__init__` on the
next one, RPC values converted like workerd, exceptions reaching the caller as `JsException`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.do_storage import DurableObjectStorage
from local.ffi import JsException
from local.outbound import current_gate
from local.rpc import convert, convert_message
from local.websocket_pair import CLOSED, OPEN, LocalWebSocket

if TYPE_CHECKING:
    from local.runtime import LocalRuntime

log = logging.getLogger("local.durable_objects")
_NOT_RPC = {"fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError"}


class DurableObjectId:
    def __init__(self, hex_id: str, name: str | None = None) -> None:
        self._hex, self.name = hex_id, name

    def toString(self) -> str:  # noqa: N802 - JS name
        return self._hex

    def equals(self, other: DurableObjectId) -> bool:
        return isinstance(other, DurableObjectId) and other._hex == self._hex

    def __str__(self) -> str:
        return self._hex


class AlarmInfo:
    def __init__(self, retry_count: int) -> None:
        self.retryCount = retry_count
        self.isRetry = retry_count > 0


class DurableObjectState:
    """`ctx` as a Durable Object sees it. A new one per instance; the host behind it persists."""

    def __init__(self, host: ObjectHost) -> None:
        self._host = host
        self.id = DurableObjectId(host.id_hex)
        self.storage = host.storage

    def acceptWebSocket(self, ws: LocalWebSocket, tags: list[str] | None = None) -> None:  # noqa: N802
        self._host.accept(ws, list(tags or []))

    def getWebSockets(self, tag: str | None = None) -> list[LocalWebSocket]:  # noqa: N802
        return [ws for ws in self._host.sockets if ws.readyState == OPEN and (tag is None or tag in ws.tags)]

    def getTags(self, ws: LocalWebSocket) -> list[str]:  # noqa: N802
        return list(ws.tags)

    def setWebSocketAutoResponse(self, pair: Any = None) -> None:  # noqa: N802
        self._host.auto_response = pair

    def getWebSocketAutoResponse(self) -> Any:  # noqa: N802
        return self._host.auto_response

    def getWebSocketAutoResponseTimestamp(self, ws: LocalWebSocket) -> Any:  # noqa: N802
        return self._host.auto_response_at.get(id(ws))

    def blockConcurrencyWhile(self, fn: Callable[[], Awaitable[Any]]) -> asyncio.Future:  # noqa: N802
        task = asyncio.ensure_future(fn())
        self._host.blockers.append(task)
        return task

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:  # noqa: N802
        self._host.runtime.background(awaitable)

    def abort(self, reason: str = "") -> None:
        self._host.evict()
        raise JsException(f"Error: Durable Object aborted: {reason}")


class ObjectHost:
    def __init__(self, runtime: LocalRuntime, namespace: DurableObjectNamespace, id_hex: str) -> None:
        self.runtime, self.namespace, self.id_hex = runtime, namespace, id_hex
        self.storage = DurableObjectStorage(namespace.state_dir / f"{id_hex}.sqlite", self._alarm_changed)
        self.lock = asyncio.Lock()
        self.instance: Any = None
        self.sockets: list[LocalWebSocket] = []
        self.auto_response: Any = None
        self.auto_response_at: dict[int, float] = {}
        self.blockers: list[asyncio.Future] = []
        self.last_event = time.monotonic()
        self.active_events = 0  # events in flight, including ones parked on outbound fetch
        self.constructions = 0

    def _alarm_changed(self, ms: int | None) -> None:
        self.runtime.alarms.changed(self, ms)

    # -- lifecycle ----------------------------------------------------------------------------
    async def _ensure_instance(self) -> Any:
        if self.instance is None:
            self.constructions += 1
            self.instance = self.namespace.cls(DurableObjectState(self), self.runtime.env)
        while self.blockers:
            await self.blockers.pop(0)
        return self.instance

    def evict(self) -> None:
        """Drop the instance (hibernation). Storage and accepted WebSockets stay."""
        self.instance = None

    def evictable(self, idle_s: float) -> bool:
        idle = time.monotonic() - self.last_event
        return self.instance is not None and self.active_events == 0 and idle >= idle_s

    async def run_event(self, call: Callable[[Any], Awaitable[Any]]) -> Any:
        self.active_events += 1
        try:
            async with self.lock:
                token = current_gate.set(self.lock)
                try:
                    instance = await self._ensure_instance()
                    return await call(instance)
                finally:
                    current_gate.reset(token)
                    self.last_event = time.monotonic()
        finally:
            self.active_events -= 1

    # -- RPC and fetch --------------------------------------------------------------------------
    async def rpc(self, name: str, args: list[Any]) -> Any:
        if name.startswith("_") or name in _NOT_RPC:
            raise JsException(f"TypeError: '{name}' is not a public RPC method")
        args = convert_message(args)

        async def call(instance: Any) -> Any:
            method = getattr(instance, name, None)
            if not callable(method):
                raise JsException(f"TypeError: The RPC receiver does not implement the method \"{name}\".")
            try:
                result = method(*args)
                if asyncio.iscoroutine(result):
                    result = await result
                return convert(result)
            except JsException:
                raise
            except Exception as exc:
                # Like workerd: the caller gets a JS error carrying the Python traceback text.
                raise JsException(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}") from None

        return await self.run_event(call)

    async def fetch(self, request: Any) -> Any:
        async def call(instance: Any) -> Any:
            try:
                return await instance.fetch(request)
            except Exception as exc:
                raise JsException(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}") from None

        return await self.run_event(call)

    # -- WebSockets -----------------------------------------------------------------------------
    def accept(self, ws: LocalWebSocket, tags: list[str]) -> None:
        ws.tags = tags
        self.sockets.append(ws)
        ws.bind(lambda message: self._on_message(ws, message), lambda code, reason: self._on_close(ws, code, reason))

    def _on_message(self, ws: LocalWebSocket, message: Any) -> None:
        pair = self.auto_response
        if pair is not None and message == pair.request:
            # Answered by the runtime without waking (or even constructing) the object.
            self.auto_response_at[id(ws)] = time.time()
            if ws.readyState == OPEN:
                ws.send(pair.response)
            return
        self.runtime.background(self._dispatch_ws(ws, "webSocketMessage", message))

    def _on_close(self, ws: LocalWebSocket, code: int, reason: str) -> None:
        self.runtime.background(self._dispatch_ws(ws, "webSocketClose", code, reason, True))

    async def _dispatch_ws(self, ws: LocalWebSocket, handler: str, *args: Any) -> None:
        async def call(instance: Any) -> None:
            fn = getattr(instance, handler, None)
            if fn is not None:
                await fn(ws, *args)

        try:
            await self.run_event(call)
        except Exception:
            log.exception("%s handler of %s raised", handler, self.namespace.class_name)
        finally:
            if handler == "webSocketClose":
                ws.readyState = CLOSED
                self.sockets = [s for s in self.sockets if s is not ws]


class DurableObjectStub:
    """`env.NS.get(id)`: every public method of the object becomes an awaitable RPC call."""

    def __init__(self, namespace: DurableObjectNamespace, object_id: DurableObjectId) -> None:
        self._namespace, self.id = namespace, object_id

    async def fetch(self, request: Any, **_options: Any) -> Any:
        gate = current_gate.get()
        if gate is not None:
            gate.release()
        try:
            return await self._namespace.host(self.id).fetch(request)
        finally:
            if gate is not None:
                await gate.acquire()

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            # The SDK turns keyword arguments into one trailing options object.
            payload = list(args) + ([kwargs] if kwargs else [])
            # Like any outbound I/O, a call to another object opens the caller's input gate.
            gate = current_gate.get()
            if gate is not None:
                gate.release()
            try:
                return await self._namespace.host(self.id).rpc(name, payload)
            finally:
                if gate is not None:
                    await gate.acquire()

        return call


class DurableObjectNamespace:
    def __init__(self, runtime: LocalRuntime, class_name: str, cls: type, state_dir: Path) -> None:
        self.runtime, self.class_name, self.cls, self.state_dir = runtime, class_name, cls, state_dir
        self.hosts: dict[str, ObjectHost] = {}

    def idFromName(self, name: str) -> DurableObjectId:  # noqa: N802 - JS name
        digest = hashlib.sha256(f"{self.class_name}:{name}".encode()).hexdigest()
        return DurableObjectId(digest, name)

    def idFromString(self, hex_id: str) -> DurableObjectId:  # noqa: N802 - JS name
        if len(hex_id) != 64 or any(c not in "0123456789abcdef" for c in hex_id):
            raise JsException("TypeError: Invalid Durable Object ID: must be 64 hex digits")
        return DurableObjectId(hex_id)

    def newUniqueId(self, options: Any = None) -> DurableObjectId:  # noqa: N802 - JS name
        import secrets  # noqa: PLC0415 - local runtime, never at import time

        return DurableObjectId(secrets.token_hex(32))

    def get(self, object_id: DurableObjectId, options: Any = None) -> DurableObjectStub:
        return DurableObjectStub(self, object_id)

    def getByName(self, name: str, options: Any = None) -> DurableObjectStub:  # noqa: N802 - JS name
        return self.get(self.idFromName(name))

    def host(self, object_id: DurableObjectId | str) -> ObjectHost:
        hex_id = str(object_id)
        if hex_id not in self.hosts:
            self.hosts[hex_id] = ObjectHost(self.runtime, self, hex_id)
        return self.hosts[hex_id]

    def stored_ids(self) -> list[str]:
        return sorted(p.stem for p in self.state_dir.glob("*.sqlite"))
