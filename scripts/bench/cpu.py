"""CPU time of the workerd processes of one `wrangler dev`, read from Linux /proc.

`wrangler dev` (4.x) starts two workerd processes in its process group: the **runtime** that runs
the Worker, its Durable Objects and its bindings (started with `--inspector-addr`), and a small
**proxy** that owns the public port and forwards every request to the runtime. The runtime's CPU
is what the Worker costs (what Workers bill, give or take the simulated bindings); the proxy's is
the local tooling's and is reported apart. utime + stime are summed over every thread.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSample:
    runtime_ms: float
    proxy_ms: float
    at: float  # time.monotonic()

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(self.runtime_ms - other.runtime_ms, self.proxy_ms - other.proxy_ms, self.at - other.at)


def _stat_fields(pid: str) -> list[str]:
    # Fields after the command name (which may hold spaces): [0] is the state, [2] the pgid,
    # [11] utime and [12] stime in clock ticks.
    return (PROC / pid / "stat").read_text().rsplit(")", 1)[1].split()


def workerd_pids(pgid: int) -> dict[str, int]:
    """{"runtime": pid, "proxy": pid} for the workerd processes of process group `pgid`."""
    found: dict[str, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "workerd" or int(_stat_fields(entry.name)[2]) != pgid:
                continue
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        role = "runtime" if any(a.startswith(b"--inspector-addr") for a in args) else "proxy"
        found[role] = int(entry.name)
    return found


def _cpu_ms(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = _stat_fields(str(pid))
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_MS


class CpuMeter:
    """Samples the CPU of one target's workerd processes (found once, by the group's leader pid)."""

    def __init__(self, pgid: int) -> None:
        self.pids = workerd_pids(pgid)
        if "runtime" not in self.pids:
            raise RuntimeError(f"no workerd runtime process in process group {pgid}: {self.pids}")

    def sample(self) -> CpuSample:
        return CpuSample(_cpu_ms(self.pids.get("runtime")), _cpu_ms(self.pids.get("proxy")), time.monotonic())

    def idle_rate(self, seconds: float = 1.0) -> float:
        """The runtime's CPU ms per second while nothing is asked of it (timers, alarms, GC)."""
        before = self.sample()
        time.sleep(seconds)
        spent = self.sample() - before
        return spent.runtime_ms / spent.at

    def settle(self, quiet_ms: float = TICK_MS, interval: float = 0.3, timeout: float = 15.0) -> CpuSample:
        """Wait until the runtime's CPU stops moving (work the requests caused, alarms included,
        is done): two intervals in a row with at most `quiet_ms` spent. Returns the last sample."""
        deadline = time.monotonic() + timeout
        last, quiet = self.sample(), 0
        while quiet < 2 and time.monotonic() < deadline:
            time.sleep(interval)
            now = self.sample()
            quiet = quiet + 1 if now.runtime_ms - last.runtime_ms <= quiet_ms else 0
            last = now
        return last
