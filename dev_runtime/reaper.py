"""The reaper: no process group started here outlives the process that started it, however it ends.

Each `wrangler dev` (and the local RunPod endpoint) runs in a session of its own, so that stopping
it ends workerd and ffmpeg too, and so that Ctrl-C reaches the supervisor alone, which stops them in
order. But a supervisor ended by SIGKILL, a closed terminal or a crash stops nothing, and their own
sessions keep them out of reach of a signal to its group: they went on serving the port.

So the first `watch()` of a process starts `python -m dev_runtime.reaper` in a session of its own,
reading a pipe whose write end only the supervisor holds (non-inheritable: no child gets it). The
supervisor writes `+PGID` for each group it starts and `-PGID` once it has ended one itself (so a
pgid the kernel hands out again later is never hit). When the pipe reaches end of file — the
supervisor is gone, by whatever means — the reaper ends the groups still listed (SIGTERM, a short
grace, SIGKILL) and exits.

PR_SET_PDEATHSIG is not used: it fires when the *thread* that forked exits (benchmarks start
Workers from `asyncio.to_thread`), it would reach node only, never workerd (node's child), and
setting it needs a `preexec_fn`, which is unsafe in a process with threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from dev_runtime.process_groups import end_groups

GRACE_S = 3.0  # what wrangler needs to stop workerd on SIGTERM; then SIGKILL
REPO = Path(__file__).resolve().parent.parent


class Groups:
    """The process groups to end, kept from the supervisor's lines: `+PGID` started, `-PGID` ended."""

    def __init__(self) -> None:
        self._pgids: dict[int, None] = {}  # ordered, for a predictable order of signals

    def feed(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        op, number = text[0], text[1:]
        # 0 and 1 would be our own group and init's: a garbled line must never end those.
        if op not in "+-" or not number.isdigit() or int(number) <= 1:
            raise ValueError(f"not a group line: {line!r}")
        if op == "+":
            self._pgids[int(number)] = None
        else:
            self._pgids.pop(int(number), None)

    @property
    def pgids(self) -> tuple[int, ...]:
        return tuple(self._pgids)


def main() -> int:
    """The reaper process: read group lines from stdin until end of file, then end those groups."""
    groups = Groups()
    for line in sys.stdin.buffer:  # ends at EOF: the supervisor closed the pipe, or died
        try:
            groups.feed(line.decode("ascii", "replace"))
        except ValueError as exc:
            print(f"reaper: {exc}", file=sys.stderr)  # skip it; the other groups still count
    end_groups(groups.pgids, grace=GRACE_S)
    return 0


class _Link:
    """The supervisor's side: the reaper process and the write end of its pipe."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.lock = threading.Lock()  # Workers may be started from several threads (benchmarks)
        self.groups = Groups()
        self.fd: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def send(self, line: str) -> None:
        with self.lock:
            self.groups.feed(line)
            if self.fd is None and line.startswith("-"):
                return  # nothing watched yet: no reaper needed to forget
            if self.fd is not None:
                try:
                    os.write(self.fd, f"{line}\n".encode())  # one short write: atomic on a pipe
                    return
                except BrokenPipeError:  # someone ended the reaper: start another, tell it all
                    os.close(self.fd)
            self._start()

    def _start(self) -> None:
        read_end, write_end = os.pipe()  # both non-inheritable (PEP 446): no child gets them
        try:
            # Its own session: a signal to the supervisor's group (Ctrl-C, kill -9 -PGID) spares it.
            self.proc = subprocess.Popen([sys.executable, "-m", "dev_runtime.reaper"], cwd=REPO,
                                         stdin=read_end, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            os.close(read_end)
        self.fd = write_end
        lines = "".join(f"+{pgid}\n" for pgid in self.groups.pgids)
        if lines:
            os.write(self.fd, lines.encode())

    def after_fork(self) -> None:
        """In a forked child: the parent's groups and reaper are the parent's, and the copy of the
        write end would keep the parent's reaper from ever seeing end of file."""
        if self.fd is not None:
            os.close(self.fd)
        self._reset()


_link = _Link()
os.register_at_fork(after_in_child=_link.after_fork)


def watch(pgid: int) -> None:
    """Have the reaper end group `pgid` should this process end before it has ended the group."""
    _link.send(f"+{pgid}")


def forget(pgid: int) -> None:
    """This process has ended group `pgid` itself: the reaper must leave that pgid alone."""
    _link.send(f"-{pgid}")


if __name__ == "__main__":
    sys.exit(main())
