"""Stand-in `workers` module with the shapes of the Python Workers SDK (local runtime only)."""

from local.http_objects import Headers, Request, Response
from local.outbound import fetch

FetchResponse = Response


class WorkerEntrypoint:
    """Base of the Worker's default export; instantiated per request with (ctx, env)."""

    def __init__(self, ctx, env):
        self.ctx = ctx
        self.env = env


class DurableObject:
    """Base of Durable Object classes; rebuilt with a fresh __init__ after every eviction."""

    def __init__(self, ctx, env):
        self.ctx = ctx
        self.env = env


__all__ = ["DurableObject", "FetchResponse", "Headers", "Request", "Response", "WorkerEntrypoint", "fetch"]
