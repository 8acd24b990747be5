"""The stand-in runtime: loads the Worker's main module, builds `env`, runs alarms and eviction."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from local import config as config_mod
from local.durable_objects import AlarmInfo, DurableObjectNamespace, ObjectHost
from local.r2 import LocalR2Bucket

log = logging.getLogger("local.runtime")
SHIMS = Path(__file__).resolve().parent / "shims"
ALARM_MAX_RETRIES = 6


class Env:
    """`self.env`: vars and secrets as str attributes, bindings as objects. Missing → AttributeError."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:  # never print values: some are secrets
        return f"Env({', '.join(sorted(self.__dict__))})"


class ExecutionContext:
    def __init__(self, runtime: LocalRuntime) -> None:
        self._runtime = runtime

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:  # noqa: N802 - JS name
        self._runtime.background(awaitable)

    def passThroughOnException(self) -> None:  # noqa: N802 - JS name
        pass


class AlarmScheduler:
    """Fires each object's alarm at its time; retries a handler that raises, with backoff."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.due: dict[ObjectHost, int] = {}
        self.retries: dict[ObjectHost, int] = {}
        self._wake = asyncio.Event()
        self._running: set[ObjectHost] = set()

    def changed(self, host: ObjectHost, ms: int | None) -> None:
        if ms is None:
            self.due.pop(host, None)
        else:
            self.due[host] = ms
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            now = time.time() * 1000
            ready = [h for h, ms in self.due.items() if ms <= now and h not in self._running]
            for host in ready:
                self._running.add(host)
                self.runtime.background(self._fire(host))
            waiting = [ms for h, ms in self.due.items() if h not in self._running]
            timeout = max(0.0, (min(waiting) - now) / 1000) if waiting else None
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _fire(self, host: ObjectHost) -> None:
        # The stored alarm, not the (possibly backed-off) firing time, is what a success consumes.
        ms = host.storage.alarm_ms()
        if ms is None:
            self.due.pop(host, None)
            self._running.discard(host)
            return
        retry = self.retries.get(host, 0)
        try:
            async def call(instance: Any) -> None:
                handler = getattr(instance, "alarm", None)
                if handler is not None:
                    await handler(AlarmInfo(retry))

            await host.run_event(call)
        except Exception:
            log.exception("alarm of %s %s raised (try %d)", host.namespace.class_name, host.id_hex[:12], retry + 1)
            if retry + 1 >= ALARM_MAX_RETRIES:
                self.retries.pop(host, None)
                host.storage.clear_alarm_if(ms)
            else:
                self.retries[host] = retry + 1
                if host.storage.alarm_ms() == ms:
                    self.due[host] = int(time.time() * 1000 + self.runtime.alarm_retry_base_s * 1000 * 2**retry)
        else:
            self.retries.pop(host, None)
            host.storage.clear_alarm_if(ms)
        finally:
            self._running.discard(host)
            self._wake.set()


class LocalRuntime:
    def __init__(self, root: Path, state_dir: Path | None = None, environ: dict[str, str] | None = None,
                 idle_s: float | None = None) -> None:
        self.config = config_mod.load(root, environ)
        environ = environ if environ is not None else dict(__import__("os").environ)
        self.state_dir = Path(state_dir or environ.get("LOCAL_STATE_DIR") or root / ".local-state")
        self.idle_s = float(idle_s if idle_s is not None else environ.get("LOCAL_DO_IDLE_S", "10"))
        self.alarm_retry_base_s = float(environ.get("LOCAL_ALARM_RETRY_BASE_S", "2"))
        self._tasks: set[asyncio.Task] = set()
        self.alarms = AlarmScheduler(self)
        self.module = self._import_main()
        self.namespaces: dict[str, DurableObjectNamespace] = {}
        bindings: dict[str, Any] = dict(self.config.vars)
        for binding, bucket in self.config.r2_buckets.items():
            bindings[binding] = LocalR2Bucket(self.state_dir / "r2" / bucket, bucket)
        for binding, class_name in self.config.durable_objects.items():
            cls = getattr(self.module, class_name, None)
            if cls is None:
                raise RuntimeError(f"Durable Object class {class_name} is not reachable from the main module")
            ns = DurableObjectNamespace(self, class_name, cls, self.state_dir / "do" / class_name)
            self.namespaces[class_name] = ns
            bindings[binding] = ns
        self.env = Env(bindings)
        self.entrypoint = self.module.Default

    def _import_main(self) -> Any:
        main = self.config.main.resolve()
        for path in (str(SHIMS), str(main.parent)):  # the Worker's own folder first
            if path in sys.path:
                sys.path.remove(path)
            sys.path.insert(0, path)
        # Another Worker's main module of the same name may be cached (several runtimes in one process).
        cached = sys.modules.get(main.stem)
        if cached is not None and Path(getattr(cached, "__file__", "") or "").resolve() != main:
            del sys.modules[main.stem]
        return importlib.import_module(main.stem)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for ns in self.namespaces.values():
            for hex_id in ns.stored_ids():
                host = ns.host(hex_id)
                ms = host.storage.alarm_ms()
                if ms is not None:
                    self.alarms.changed(host, ms)
        self.background(self.alarms.run())
        self.background(self._evict_loop())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        from local.outbound import close_client  # noqa: PLC0415

        await close_client()
        for ns in self.namespaces.values():
            for host in ns.hosts.values():
                host.storage.close()

    def background(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task failed", exc_info=t.exception())

        task.add_done_callback(done)

    async def _evict_loop(self) -> None:
        while True:
            await asyncio.sleep(min(0.25, max(self.idle_s / 4, 0.02)))
            for ns in self.namespaces.values():
                for host in ns.hosts.values():
                    if host.evictable(self.idle_s):
                        log.debug("evicting %s %s", ns.class_name, host.id_hex[:12])
                        host.evict()

    # -- requests -------------------------------------------------------------------------------
    async def fetch(self, request: Any) -> Any:
        worker = self.entrypoint(ExecutionContext(self), self.env)
        return await worker.fetch(request)
