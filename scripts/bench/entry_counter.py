"""Count the Worker's entries into Python, in development only: never in a deployed code path.

An entry is every call the runtime makes into the Worker's Python: `Default.fetch`, each Durable
Object RPC method, `fetch`, `alarm` and WebSocket handler. Each costs ~1–3 ms of CPU before the
project's code does anything (docs/benchmarks.md, "The floor of a Python request"), so how many a
start, a status read, a callback or a claim makes is the first thing its cost depends on.

How: `counting_root()` builds a scratch project next to the real one — a copy of `src/` plus one
more module, `counting_entry.py`, which imports the real entry point, wraps every entry method of
its classes with a counter and a timer, and answers `GET /__dev/entries` with the counts and the ms
spent inside each kind of entry (`?reset=1` zeroes them after reading) — and a copy of wrangler.toml whose `main` is that module. The Worker and its objects
run in one isolate under `wrangler dev`, so one module-level counter sees them all. `src/` itself is
never changed, and nothing of this is deployed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COUNTS_PATH = "/__dev/entries"
MODULE = "counting_entry"

# Methods that other Python code of the object calls (not the runtime): counting them would count
# one entry twice.
_NOT_ENTRIES = ("on_message", "accept", "send", "broadcast")

_SOURCE = f'''"""Development only (scripts/bench/entry_counter.py): the Worker's entry point with every entry
into Python counted. Never deployed."""

import inspect
import json
import time
from collections import Counter
from urllib.parse import urlsplit

from workers import Response

import entry

COUNTS = Counter()
MS = Counter()  # wall ms inside each entry (I/O awaited included); locally the clock advances during CPU work
RUNTIME_HANDLERS = ("fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError")


def _counting(cls, name):
    original = getattr(cls, name)
    label = cls.__name__ + "." + name
    if inspect.iscoroutinefunction(original):
        async def counted(self, *args, **kwargs):
            COUNTS[label] += 1
            t0 = time.perf_counter()
            try:
                return await original(self, *args, **kwargs)
            finally:
                MS[label] += (time.perf_counter() - t0) * 1000
    else:
        def counted(self, *args, **kwargs):
            COUNTS[label] += 1
            t0 = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                MS[label] += (time.perf_counter() - t0) * 1000
    counted.__name__ = name
    setattr(cls, name, counted)


# The object classes the entry point has (an older checkout, served for comparison, may lack some).
_CLASSES = [getattr(entry, n) for n in ("UserJobs", "EncodeQueue", "UsageLedger", "Scheduler") if hasattr(entry, n)]
for _cls in _CLASSES:
    # Public methods of the class and of the project's own bases (UserJobs takes some from a mix-in).
    _own = [k for k in _cls.__mro__ if k.__module__.split(".")[0] in ("durable_objects", "entry")]
    _names = {{n for k in _own for n in vars(k) if not n.startswith("_") and callable(vars(k)[n])}}
    _names |= {{n for n in RUNTIME_HANDLERS if hasattr(_cls, n)}}
    for _name in sorted(_names - set({_NOT_ENTRIES!r})):
        _counting(_cls, _name)


class Default(entry.Default):
    async def fetch(self, request):
        parts = urlsplit(request.url)
        if parts.path == {COUNTS_PATH!r}:
            body = json.dumps({{"counts": dict(COUNTS), "ms": {{k: round(v, 2) for k, v in MS.items()}}}})
            if "reset=1" in parts.query:
                COUNTS.clear()
                MS.clear()
            return Response(body, headers={{"Content-Type": "application/json"}})
        COUNTS["Default.fetch"] += 1
        t0 = time.perf_counter()
        try:
            return await super().fetch(request)
        finally:
            MS["Default.fetch"] += (time.perf_counter() - t0) * 1000


UserJobs, EncodeQueue, UsageLedger = entry.UserJobs, entry.EncodeQueue, entry.UsageLedger
Scheduler = getattr(entry, "Scheduler", None)
'''


def counting_root(dest: Path, source: Path = REPO) -> Path:
    """A scratch project in `dest` that serves the Worker of `source` (this checkout, or an older one's
    `src/` and `wrangler.toml` for comparison) with its entries counted; its root."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "src" / f"{MODULE}.py").write_text(_SOURCE)
    config = (source / "wrangler.toml").read_text()
    config, replaced = re.subn(r'(?m)^main = ".*"$', f'main = "src/{MODULE}.py"', config)
    if replaced != 1:
        raise RuntimeError("wrangler.toml has no single `main = ...` line to point at the counting entry")
    (dest / "wrangler.toml").write_text(config)
    for shared in ("python_modules", "node_modules", "public", "pyproject.toml"):
        if (REPO / shared).exists():
            (dest / shared).symlink_to(REPO / shared)
    return dest
