"""The least a Python Worker can do for the benchmark's start, status, callback and WebSocket fan-out:
the request entry, one call into one Durable Object per user, its SQLite row, RunPod's /run, a
broadcast. No framework, no auth, no validation, no crash safety. Benchmark only: never deployed."""

import json
import uuid
from urllib.parse import urlsplit

import js
from pyodide.ffi import to_js
from workers import DurableObject, WorkerEntrypoint

PING, PONG = '{"type":"ping"}', '{"type":"pong"}'


class Jobs(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        self.sql.exec("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        self.sql.exec("CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY, body TEXT, claimed INTEGER DEFAULT 0)")
        ctx.setWebSocketAutoResponse(js.WebSocketRequestResponsePair.new(PING, PONG))

    async def start(self, body: str) -> str:
        job_id = uuid.uuid4().hex
        self.sql.exec("INSERT INTO jobs VALUES (?, ?)", job_id, json.dumps({"job_id": job_id, "status": "pending"}))
        init = {"method": "POST", "body": json.dumps({"input": {"job_id": job_id, **json.loads(body)}}),
                "headers": {"Authorization": f"Bearer {self.env.RUNPOD_API_KEY}", "Content-Type": "application/json"}}
        answer = await js.fetch(f"{self.env.RUNPOD_ENDPOINT}/run", to_js(init, dict_converter=js.Object.fromEntries))
        runpod_id = json.loads(await answer.text())["id"]
        done = json.dumps({"job_id": job_id, "status": "processing", "runpod_id": runpod_id})
        self.sql.exec("UPDATE jobs SET body = ? WHERE id = ?", done, job_id)
        return done

    def status(self, job_id: str) -> str:
        return self.sql.exec("SELECT body FROM jobs WHERE id = ?", job_id).one().body

    def callback(self, job_id: str, body: str) -> str:
        report = json.loads(body)
        self.sql.exec("UPDATE jobs SET body = ? WHERE id = ?", body, job_id)
        text = json.dumps({"type": "progress", "job_id": job_id, **report})
        for ws in self.ctx.getWebSockets(job_id):
            ws.send(text)
        return '{"received":true}'

    def enqueue(self, body: str) -> str:
        ids = [self.sql.exec("INSERT INTO queue (body) VALUES (?) RETURNING id", json.dumps(item)).one().id
               for item in json.loads(body)]
        return json.dumps([{"id": i} for i in ids])

    def claim(self) -> str | None:
        rows = self.sql.exec("UPDATE queue SET claimed = 1 WHERE id = (SELECT id FROM queue WHERE claimed = 0 "
                             "ORDER BY id LIMIT 1) RETURNING id, body").toArray()
        return json.dumps({"id": rows[0].id, "body": rows[0].body}) if len(rows) else None

    async def fetch(self, request):
        job_id = urlsplit(request.url).path.strip("/").split("/")[1]
        client, server = js.WebSocketPair.new().object_values()
        self.ctx.acceptWebSocket(server, to_js([job_id]))
        return js.Response.new(None, to_js({"status": 101, "webSocket": client}, dict_converter=js.Object.fromEntries))


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        parts = urlsplit(request.url).path.strip("/").split("/")
        user = self.env.USERS.getByName("bench")
        if parts[:2] == ["start"]:
            return js.Response.new(await user.start(await request.text()))
        if parts[:1] == ["status"]:
            return js.Response.new(await user.status(parts[1]))
        if parts[:1] == ["callback"]:
            return js.Response.new(await user.callback(parts[1], await request.text()))
        if parts[:1] == ["ws"]:
            return await user.fetch(request.js_object)
        if parts == ["api", "jobs"]:
            return js.Response.new(await user.enqueue(await request.text()), status=201)
        if parts == ["api", "jobs", "claim"]:
            claimed = await user.claim()
            return js.Response.new(claimed, status=200) if claimed else js.Response.new("{}", status=404)
        if parts == ["ok"]:
            return js.Response.new("ok")
        return js.Response.new("no such route", status=404)
