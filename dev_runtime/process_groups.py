"""Ending process groups: every process a group holds, not only its leader.

`wrangler dev` (node) starts workerd in its own process group, and the local RunPod endpoint starts
ffmpeg in its own, so ending a group ends everything one start made. Standard library only: the
reaper (reaper.py) imports this in a process that must start fast and depend on nothing else.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def group_alive(pgid: int) -> bool:
    """Whether a process of the group is still running (zombies waiting to be reaped do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            return True
    return False


def end_groups(pgids: Iterable[int], sig: signal.Signals = signal.SIGTERM, grace: float = 10,
               reap: Callable[[], object] | None = None) -> None:
    """Send `sig` to every group at once; SIGKILL the groups that still hold a process after `grace`
    seconds. Returns once none is left; `reap` (a leader's `Popen.poll`) keeps a leader that is our
    own child from lingering as a zombie meanwhile."""
    left = set(pgids)
    for signal_to_send, wait in ((sig, grace), (signal.SIGKILL, 10)):
        for pgid in left:
            try:
                os.killpg(pgid, signal_to_send)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while True:
            if reap is not None:
                reap()
            left = {pgid for pgid in left if group_alive(pgid)}
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if not left:
            return
    raise RuntimeError(f"process group(s) {sorted(left)} survived SIGKILL")


def end_group(pgid: int, sig: signal.Signals = signal.SIGTERM, grace: float = 10,
              reap: Callable[[], object] | None = None) -> None:
    """`end_groups` for one group."""
    end_groups((pgid,), sig, grace, reap)
