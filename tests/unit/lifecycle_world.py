"""One export job's world for the lifecycle's tests on CPython (test_lifecycle.py, test_job_attempts.py):
the record in a fake DO SQL, RunPod as the fake endpoint called in-process through httpx, the sockets
as a list behind the job's event log (as the object logs each change's events, then sends them), and a
clock the test moves. workerd is needed only for what these cannot show
(tests/integration: the wire, eviction, restarts, crash safety)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from jobs.events import EventLog
from jobs.events import ensure_schema as ensure_events_schema
from jobs.export_job import ExportJob
from jobs.lifecycle import Ports, due_rule
from jobs.runpod import RunPodClient
from jobs.store import JobTable, ensure_schema
from outbound import TransportError
from scheduling import policy
from scheduling.store import SchedulerStore
from settings import Settings
from tests.fakes.do_sql import SqlStorage
from tests.fakes.httpx_transport import HttpxTransport
from tests.fakes.runpod_server import FakeRunPod

KEY = "test-runpod-key"
T0 = 1_800_000_000_000
SPEC = {"job_id": "j1", "user_id": "alice", "type": "overlay", "project_id": 7, "input_key": "working_videos/in.mp4",
        "params": {"effect_type": "dim"}, "base_url": "http://w.test"}
ENV = SimpleNamespace(RUNPOD_ENDPOINT="http://runpod.test/v2/fake-endpoint", RUNPOD_API_KEY=KEY, STALL_POLL_S="30",
                      QUEUE_TTL_S="3600", EXECUTION_TIMEOUT_S="3600", SUBMIT_RETRY_BASE_S="2", CALLBACK_SECRET="cb-secret",
                      URL_SIGNING_SECRET="url-secret", ENVIRONMENT="test")


class LocalScheduler:
    """The endpoint's scheduler in process: the real store (scheduling/store.py) on a fake DO SQL, called as the
    user's object calls the Scheduler object. Unbounded unless a test sets `limits`; `down` makes every call fail."""

    def __init__(self, clock) -> None:
        self.clock, self.down = clock, False
        self.store = SchedulerStore(SqlStorage(), policy.Limits(1000, 1000, 60_000))
        self.calls: list[tuple] = []

    def set_limits(self, per_user: int, total: int, step_ms: int = 60_000) -> None:
        self.store.limits = policy.Limits(per_user, total, step_ms)

    def _call(self, *call) -> None:
        self.calls.append(call)
        if self.down:
            raise TransportError("the scheduler is unreachable")

    async def acquire(self, user_id, job_id, attempt, priority, created_ms, lease_ms) -> dict:
        self._call("acquire", job_id, attempt)
        rank = policy.rank(created_ms, priority, self.store.limits.priority_step_ms)
        return self.store.acquire(user_id, job_id, attempt, rank, lease_ms, self.clock())

    async def release(self, job_id, below) -> int:
        self._call("release", job_id, below)
        return self.store.release(job_id, below, self.clock())


class World:
    """One job of a user's object: its lifecycle over fakes, and what went out."""

    def __init__(self, fake: FakeRunPod, http: HttpxTransport) -> None:
        self.fake, self.now = fake, T0
        self.sql = SqlStorage()
        ensure_schema(self.sql, set())
        ensure_events_schema(self.sql, set())
        self.log = EventLog(self.sql)
        self.sent: list[dict] = []
        self.owed: list[tuple[str, int]] = []  # (job id, version) of records saved owing the user's database
        self.runpod_down = False
        self.during_call = None  # run inside the next outbound call, as another event of the object would
        self.settings = Settings.from_env(ENV)

        async def transport(method, url, **kw):
            self._interleave()
            if self.runpod_down:
                raise TransportError(f"{method} {url} failed: connection refused")
            return await http(method, url, **kw)

        self.table = self._table()
        self.scheduler = LocalScheduler(lambda: self.now)
        self.webhooks: list[tuple[str, str]] = []  # (event, status) of every event handed to the outbox
        self.stale: list[tuple[str, str]] = []  # (job id, status) of every newer state that made progress stale
        self.ports = Ports(store=self.table.one("j1"), runpod=lambda: RunPodClient(ENV.RUNPOD_ENDPOINT, KEY, transport),
                           broadcast=self._broadcast, webhook=self._webhook, stale_progress=self._stale,
                           clock=lambda: self.now, wall_clock=lambda: self.now / 1000,
                           scheduler=lambda: self.scheduler)
        self.job = ExportJob(self.ports, self.settings)

    def _broadcast(self, messages: list[dict]) -> None:
        self.log.append("j1", messages, self.now)
        self.sent.extend(messages)

    def _webhook(self, event: str, job) -> None:
        self.webhooks.append((event, job.status))

    def _stale(self, job_id: str) -> None:
        self.stale.append((job_id, self.record().status))

    def _table(self) -> JobTable:
        return JobTable(self.sql, due_rule(self.settings), owed=lambda job: self.owed.append((job.job_id, job.version)))

    def _interleave(self) -> None:
        hook, self.during_call = self.during_call, None
        if hook is not None:
            hook()

    def record(self):
        return self.ports.store.load()

    def job_of(self, job_id: str) -> ExportJob:
        """Another job of the same user's object (the same table, RunPod and scheduler); its messages go to `sent`."""
        return ExportJob(replace(self.ports, store=self.table.one(job_id)), self.settings)

    def rebuilt(self) -> ExportJob:
        """The object evicted and built again on the same storage."""
        return ExportJob(Ports(store=self._table().one("j1"), runpod=self.ports.runpod,
                                  broadcast=self._broadcast, webhook=self._webhook, stale_progress=self._stale,
                                  clock=lambda: self.now, scheduler=lambda: self.scheduler),
                            self.settings)

    def due(self) -> int | None:
        """When the object's alarm next runs for its jobs (the table's earliest `due_ms`)."""
        return self.table.earliest_due()

    async def alarm_until_idle(self, limit: int = 50) -> None:
        """Run the alarm whenever it is due, moving the clock to it, until nothing is owed soon."""
        for _ in range(limit):
            due = self.due()
            if due is None or due > self.now + 10_000:
                return
            self.now = max(self.now, due)
            await self.job.run_due()

    def callback(self, body: dict) -> dict:
        return self.job.callback(body)

    async def admit(self, job: ExportJob | None = None) -> None:
        """Ask the scheduler for the queued job's slot and submit it when granted, as the user's object does
        after a start or a retry (durable_objects/user_admission.py)."""
        job = job or self.job
        if job.begin_acquire() and await job.acquire():
            await job.submit(job.begin_submit())


async def admitted(world: World, spec: dict = SPEC) -> None:
    """Create the job and have the scheduler grant its slot, as a start under the limits does: the job is
    pending, its submission not yet begun."""
    world.job.create(spec)
    assert world.job.begin_acquire() and await world.job.acquire()


async def started(world: World) -> str:
    """Create the job and submit it as a start does; the RunPod id."""
    world.job.create(SPEC)
    await world.admit()
    return world.record().runpod_id
