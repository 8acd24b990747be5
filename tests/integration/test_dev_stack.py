"""`scripts/dev` and `scripts/bootstrap` as a developer's machine treats them: a kill -9 or a closed
terminal leaves no Worker (wrangler, workerd) or local RunPod endpoint behind, so the next
`scripts/dev` on the same state dir starts; and setup never rebuilds the `.venv` a running stack
uses, whatever interpreter an activated virtualenv puts first on PATH."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dev_runtime.wrangler_dev import free_port
from tests.conftest import REPO
from tests.waiting import wait_for


# -- processes, by pid and start time (a pid the kernel hands out again is another process) ----------
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _running(pid: int, started: str) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and fields[19] == started


def _all_gone(procs: dict[int, tuple[str, int, str]]) -> bool:
    return not any(_running(pid, started) for pid, (started, _, _) in procs.items())


def _descendants(root: int) -> dict[int, tuple[str, int, str]]:
    """Every process below `root`: pid → (start time, process group, command line)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        fields = _stat(pid)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields is not None:
            found[pid] = (fields[19], int(fields[2]), cmdline)
            todo.extend(children.get(pid, []))
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_dev(env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    # Its own session, as a terminal's shell would start it: the test's group is not its group.
    dev = subprocess.Popen([str(REPO / "scripts" / "dev")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(iter(dev.stdout.readline, "")), daemon=True).start()
    wait_for(lambda: any("serving on" in line for line in output) or dev.poll() is not None, 180,
             "scripts/dev serving")
    assert dev.poll() is None, "".join(output)
    return dev, output


ENDINGS: dict[str, Callable[[int], None]] = {
    "kill -9 of scripts/dev's own pid": lambda pid: os.kill(pid, signal.SIGKILL),
    "kill -9 of its whole process group": lambda pid: os.killpg(pid, signal.SIGKILL),
    "SIGHUP of a closed terminal": lambda pid: os.killpg(pid, signal.SIGHUP),
}


@pytest.mark.timeout(600)
def test_nothing_outlives_scripts_dev_however_it_ends(tmp_path):
    port, gpu_port = free_port(), free_port()
    env = {**os.environ, "PORT": str(port), "LOCAL_RUNPOD_PORT": str(gpu_port),
           "LOCAL_STATE_DIR": str(tmp_path / "state")}
    for how, end in ENDINGS.items():
        # Each start after the first is also the proof that the one before left its ports free.
        dev, output = _start_dev(env)
        procs: dict[int, tuple[str, int, str]] = {}
        try:
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200
            procs = _descendants(dev.pid)
            wranglers = [pid for pid, (_, _, cmd) in procs.items() if "wrangler.js dev" in cmd]
            workerds = [group for _, group, cmd in procs.values() if "/workerd serve" in cmd]
            assert len(wranglers) == 1 and workerds, procs
            # workerd is started by wrangler's node: in wrangler's group, which the reaper ends.
            assert set(workerds) == set(wranglers)
            assert any("gpu_worker.local_endpoint" in cmd for _, _, cmd in procs.values()), procs
            assert any("dev_runtime.reaper" in cmd for _, _, cmd in procs.values()), procs

            end(dev.pid)
            began = time.monotonic()
            wait_for(lambda procs=procs: _all_gone(procs), 15, f"every process of scripts/dev gone after {how}")
            print(f"{how}: all {len(procs)} processes gone in {time.monotonic() - began:.2f} s")
            assert not _listening(port) and not _listening(gpu_port)
            if how.startswith("SIGHUP"):  # handled as Ctrl-C is: a clean stop, not a death
                assert dev.wait(10) == 0, "".join(output[-40:])
        finally:
            for pid, (started, _, _) in procs.items():
                if _running(pid, started):
                    os.kill(pid, signal.SIGKILL)
            if dev.poll() is None:
                os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(10)


# -- scripts/bootstrap ------------------------------------------------------------------------------
def _other_interpreter() -> str | None:
    """A CPython >= 3.11 that is not the one `.venv` here was made with: what an activated
    virtualenv of another Python puts first on PATH."""
    ours = os.path.realpath(sys._base_executable)
    candidates = ["/usr/bin/python3", "/usr/local/bin/python3", *sorted(glob.glob(os.path.expanduser(
        "~/.pyenv/versions/3.1[1-9]*/bin/python3"))), shutil.which("python3.12"), shutil.which("python3.13")]
    for path in filter(None, candidates):
        if os.path.realpath(path) == ours or not os.access(path, os.X_OK):
            continue
        probe = subprocess.run([path, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                               capture_output=True, text=True)
        if probe.stdout.strip() == "True":
            return path
    return None


@pytest.fixture
def project(tmp_path) -> Path:
    """A project in miniature: scripts/bootstrap, a lock without packages, the pinned uv, and a
    `.venv` bootstrap made with this test's own interpreter first on PATH."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "bootstrap", root / "scripts" / "bootstrap")
    (root / ".tools").mkdir()
    (root / ".tools" / "uv").symlink_to(REPO / ".tools" / "uv")
    (root / "pyproject.toml").write_text('[project]\nname = "mini"\nversion = "0"\nrequires-python = ">=3.11"\n'
                                         "dependencies = []\n[tool.uv]\npackage = false\n")
    uv = str(REPO / ".tools" / "uv" / "bin" / "uv")
    subprocess.run([uv, "lock", "--offline", "--quiet"], cwd=root, check=True)
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "python3").symlink_to(os.path.realpath(sys._base_executable))
    subprocess.run([str(root / "scripts" / "bootstrap")], check=True,
                   env={**os.environ, "PATH": f"{ours}:{os.environ['PATH']}"})
    (root / ".venv" / "in-use-marker").write_text("a running scripts/dev uses this .venv")
    return root


def test_bootstrap_keeps_the_venv_in_use_whatever_python3_comes_first(project, tmp_path):
    other = _other_interpreter()
    if other is None:
        pytest.skip("needs a second CPython >= 3.11 on this machine")
    activated = tmp_path / "activated"
    subprocess.run([other, "-m", "venv", "--without-pip", str(activated)], check=True)
    config = (project / ".venv" / "pyvenv.cfg").read_text()
    for extra in ({"VIRTUAL_ENV": str(activated)}, {"UV_PYTHON": other}):
        env = {**os.environ, **extra, "PATH": f"{activated / 'bin'}:{os.environ['PATH']}"}
        done = subprocess.run([str(project / "scripts" / "bootstrap")], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert (project / ".venv" / "in-use-marker").exists(), f"{extra}: .venv was rebuilt\n{done.stderr}"
        assert (project / ".venv" / "pyvenv.cfg").read_text() == config


def test_bootstrap_refuses_rather_than_rebuilds_a_venv_it_cannot_sync_into(project):
    # Say the project moved to a Python newer than the one .venv has.
    for name in ("pyproject.toml", "uv.lock"):
        path = project / name
        path.write_text(path.read_text().replace('requires-python = ">=3.11"', 'requires-python = ">=3.99"'))
    done = subprocess.run([str(project / "scripts" / "bootstrap")], capture_output=True, text=True)
    assert done.returncode == 1
    assert "left as it is" in done.stderr and "remove .venv" in done.stderr, done.stderr
    assert (project / ".venv" / "in-use-marker").exists()
