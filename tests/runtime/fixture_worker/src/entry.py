"""Routes: /rpc/{object}/{method} (JSON list of args), /ws/{object} (upgrade), /r2/put-if (CAS)."""

import asyncio
import json
import time
from urllib.parse import urlsplit

from js import AbortSignal, WebSocketPair, WebSocketRequestResponsePair
from workers import DurableObject, Response, WorkerEntrypoint, fetch


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        parts = urlsplit(request.url).path.strip("/").split("/")
        if parts[0] == "health":
            return Response.json({"ok": True, "greeting": self.env.GREETING})
        if parts[0] == "rpc":
            stub = self.env.PROBE.getByName(parts[1])
            args = json.loads(await request.text() or "[]")
            try:
                result = await getattr(stub, parts[2])(*args)
            except Exception as exc:
                return Response.json({"error": str(exc).splitlines()[0]}, status=500)
            return Response.json({"result": result})
        if parts[0] == "ws":
            return await self.env.PROBE.getByName(parts[1]).fetch(request)
        if parts[0] == "r2":
            body = json.loads(await request.text())
            if body.get("etag") is None:
                obj = await self.env.BUCKET.put(body["key"], body["value"])
                return Response.json({"etag": obj.etag})
            obj = await self.env.BUCKET.put(body["key"], body["value"], onlyIf={"etagMatches": body["etag"]})
            return Response.json({"won": obj is not None})
        return Response.json({"error": "no route"}, status=404)


class Probe(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        self.sql.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER)")
        self.sql.exec("CREATE TABLE IF NOT EXISTS alarms (fired_ms INTEGER, retry INTEGER, is_retry INTEGER)")
        # Counted in storage: an in-memory counter would be lost with the instance it counts.
        self.sql.exec("INSERT INTO kv VALUES ('constructions', 1) ON CONFLICT(k) DO UPDATE SET v = v + 1")
        ctx.setWebSocketAutoResponse(WebSocketRequestResponsePair.new('{"type":"ping"}', '{"type":"pong"}'))
        ctx.blockConcurrencyWhile(self._warm_up)

    async def _warm_up(self):
        await asyncio.sleep(0.2)  # no event may reach the object before this finishes
        self.sql.exec("INSERT INTO kv VALUES ('warm', 1) ON CONFLICT(k) DO UPDATE SET v = v + 1")

    async def warm_count(self):
        return self._get("warm")

    async def slow_fetch(self, url):
        resp = await fetch(url, signal=AbortSignal.timeout(5000))
        return await resp.text()

    def _get(self, key):
        rows = self.sql.exec("SELECT v FROM kv WHERE k = ?", key).toArray()
        return rows[0]["v"] if rows else 0

    async def constructions(self):
        return self._get("constructions")

    async def slow_increment(self):
        value = self._get("counter")
        await asyncio.sleep(0.01)  # a gap between read and write: interleaved events would lose updates
        self.sql.exec("INSERT INTO kv VALUES ('counter', ?) ON CONFLICT(k) DO UPDATE SET v = ?", value + 1, value + 1)
        return value + 1

    async def counter(self):
        return self._get("counter")

    async def put_value(self, key, value):
        await self.ctx.storage.put(key, value)

    async def get_value(self, key):
        return await self.ctx.storage.get(key)

    async def set_alarm_in(self, ms, fail_times=0):
        self.sql.exec("INSERT INTO kv VALUES ('fail_times', ?) ON CONFLICT(k) DO UPDATE SET v = ?", fail_times, fail_times)
        await self.ctx.storage.setAlarm(int(time.time() * 1000) + ms)

    async def alarm_runs(self):
        return self.sql.exec("SELECT retry, is_retry FROM alarms ORDER BY fired_ms").toArray()

    async def pending_alarm(self):
        return await self.ctx.storage.getAlarm()

    async def alarm(self, info):
        self.sql.exec("INSERT INTO alarms VALUES (?, ?, ?)", int(time.time() * 1000), info.retryCount, int(info.isRetry))
        remaining = self._get("fail_times")
        if remaining > 0:
            self.sql.exec("UPDATE kv SET v = ? WHERE k = 'fail_times'", remaining - 1)
            raise RuntimeError("alarm failed on purpose")

    async def describe(self, *args):
        return [type(a).__name__ for a in args]

    async def attr_of(self, d, name):
        return getattr(d, name)

    async def give_bytes(self):
        return b"raw"

    async def boom(self):
        raise ValueError("exploded inside the object")

    async def broadcast(self, text):
        sent = 0
        for ws in self.ctx.getWebSockets():
            try:
                ws.send(text)
                sent += 1
            except Exception:
                pass
        return sent

    async def fetch(self, request):
        client, server = WebSocketPair.new().object_values()
        self.ctx.acceptWebSocket(server)
        server.serializeAttachment({"joined": self._get("constructions")})
        return Response(None, status=101, web_socket=client)

    async def webSocketMessage(self, ws, message):
        ws.send(json.dumps({"echo": message, "attachment": ws.deserializeAttachment()}))

    async def webSocketClose(self, ws, code, reason, was_clean):
        self.sql.exec("INSERT INTO kv VALUES ('closed_code', ?) ON CONFLICT(k) DO UPDATE SET v = ?", code, code)
        ws.close(code, reason)

    async def closed_code(self):
        return self._get("closed_code")
