"""dev_runtime/reaper.py on CPython: its bookkeeping, and a supervisor killed with SIGKILL leaves no
group it started behind (the reaper's part of scripts/dev, without a Worker)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from dev_runtime.process_groups import end_group, group_alive
from dev_runtime.reaper import GRACE_S, Groups
from tests.conftest import REPO
from tests.waiting import wait_for


def test_groups_keeps_what_was_started_and_not_yet_ended_in_order():
    groups = Groups()
    for line in ("+300\n", "+200", "+300", "\n", " +100 ", "-200\n", "-999"):
        groups.feed(line)
    assert groups.pgids == (300, 100)


@pytest.mark.parametrize("line", ["300", "+", "+abc", "*300", "+0", "+1", "-1", "+-5", "+3.5"])
def test_groups_refuses_a_garbled_line_and_never_takes_our_own_or_inits_group(line):
    groups = Groups()
    groups.feed("+42")
    with pytest.raises(ValueError):
        groups.feed(line)
    assert groups.pgids == (42,)


# A supervisor as scripts/dev's: starts groups, tells the reaper, then dies by SIGKILL. One group
# ignores SIGTERM (the reaper must SIGKILL it), one is told after the reaper itself was killed (a
# new reaper must learn every group), and one is forgotten (ended as far as the reaper knows).
SUPERVISOR = r"""
import json, os, signal, subprocess, sys
from dev_runtime import reaper

def group(*cmd):
    proc = subprocess.Popen(cmd, start_new_session=True)
    return proc.pid

stubborn = group("sh", "-c", "trap '' TERM; sleep 300 & wait")
reaper.watch(stubborn)
first = reaper._link.proc
first.kill(); first.wait()
later = group("sleep", "300")
reaper.watch(later)
forgotten = group("sleep", "300")
reaper.watch(forgotten)
reaper.forget(forgotten)
print(json.dumps({"groups": [stubborn, later], "forgotten": forgotten, "reapers": [first.pid, reaper._link.proc.pid]}), flush=True)
signal.pause()
"""


def test_a_supervisor_killed_with_sigkill_leaves_no_group_behind():
    sup = subprocess.Popen([sys.executable, "-c", SUPERVISOR], cwd=REPO, stdout=subprocess.PIPE, text=True)
    info = json.loads(sup.stdout.readline())
    try:
        assert all(group_alive(pgid) for pgid in (*info["groups"], info["forgotten"]))
        sup.kill()
        sup.wait(10)
        # SIGTERM, GRACE_S for the stubborn one, then SIGKILL.
        wait_for(lambda: not any(group_alive(pgid) for pgid in info["groups"]), GRACE_S + 10,
                 "the supervisor's groups ended by the reaper")
        wait_for(lambda: not group_alive(info["reapers"][1]), 10, "the reaper exits once done")
        assert group_alive(info["forgotten"]), "the reaper ended a group it had been told to forget"
    finally:
        for pgid in (*info["groups"], info["forgotten"]):
            end_group(pgid, signal.SIGKILL, 0)
        if sup.poll() is None:
            sup.kill()
            sup.wait(10)


def supervisor(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` as a supervisor process of its own (it imports the reaper, starts groups, exits)."""
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30)


def test_the_reaper_ends_nothing_when_the_supervisor_ended_its_groups_itself():
    # A normal exit closes the pipe too: the reaper must then leave at once, and leave alone a group it
    # was told to forget (here one still running, as a pgid the kernel handed out again would be).
    code = ("import json, subprocess; from dev_runtime import reaper\n"
            "p = subprocess.Popen(['sleep', '300'], start_new_session=True, stdout=subprocess.DEVNULL,\n"
            "                     stderr=subprocess.DEVNULL); reaper.watch(p.pid)\n"
            "reaper.forget(p.pid)\n"
            "print(json.dumps([reaper._link.proc.pid, p.pid]))\n")
    done = supervisor(code)
    assert done.returncode == 0, done.stderr
    reaper_pid, kept = json.loads(done.stdout)
    try:
        wait_for(lambda: not group_alive(reaper_pid), 10, "the reaper exits at end of file")
        assert group_alive(kept), "the reaper ended a group it had been told to forget"
    finally:
        os.killpg(kept, signal.SIGKILL)


def test_the_pipes_write_end_reaches_no_child():
    # Were it inherited, a child (wrangler, workerd) would hold the pipe open: no end of file, ever.
    code = ("import os, subprocess, sys; from dev_runtime import reaper\n"
            "p = subprocess.Popen(['sleep', '300'], start_new_session=True); reaper.watch(p.pid)\n"
            "fd = reaper._link.fd\n"
            "child = subprocess.run([sys.executable, '-c', f'import os; os.fstat({fd})'], close_fds=False)\n"
            "p.kill(); p.wait(); reaper.forget(p.pid)\n"
            "sys.exit(child.returncode)\n")
    done = supervisor(code)
    assert done.returncode == 1 and "Bad file descriptor" in done.stderr, done.stderr


def test_a_forked_child_has_a_reaper_of_its_own_and_no_copy_of_the_parents_pipe():
    code = ("import os, sys; from dev_runtime import reaper\n"
            "import subprocess\n"
            "p = subprocess.Popen(['sleep', '300'], start_new_session=True); reaper.watch(p.pid)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    ok = reaper._link.fd is None and reaper._link.groups.pgids == ()\n"
            "    os._exit(0 if ok else 3)\n"
            "code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])\n"
            "p.kill(); p.wait(); reaper.forget(p.pid)\n"
            "sys.exit(code)\n")
    done = supervisor(code)
    assert done.returncode == 0, done.stderr
