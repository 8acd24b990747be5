"""`wrangler dev` serving the Worker on the real runtime: workerd + Pyodide, offline.

One `WranglerDev` is one `wrangler dev` process and the workerd it starts, run as their own
process group so that a stop or a crash (SIGKILL) takes both, and nothing is left behind. The
reaper (reaper.py) ends that group should the process that started it die first, by any means.
Their output goes through `Redactor` to a log file and, for `scripts/dev`, to the terminal.

What differs from a plain `wrangler dev` is only what running offline needs:
- `MINIFLARE_WORKERD_PATH` names `dev_runtime/workerd`, which tells workerd where the development
  Pyodide bundle is (`build_bundle.py` makes it);
- `--compatibility-flags` selects that bundle (DEV_FLAGS) without touching wrangler.toml, which
  stays what production deploys;
- vars and secrets come from one private env file (see dev_vars.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import httpx

from dev_runtime import reaper
from dev_runtime.dev_vars import write_env_file
from dev_runtime.node_tools import REPO, WRANGLER_ENV, WRANGLER_JS, find_node, workerd_binary
from dev_runtime.process_groups import end_group
from dev_runtime.process_groups import group_alive as group_alive  # re-exported: tests, benchmarks
from dev_runtime.redact import Redactor

WORKERD_WRAPPER = Path(__file__).resolve().parent / "workerd"

# `python_workers_development` makes workerd load `pyodide_dev.capnp.bin` from the bundle folder.
# workerd uses the enabled Python release with the highest ordinal, so the dated releases that the
# compatibility date turns on are turned off again, or they would win (and need the network).
DEV_FLAGS = ("python_workers_development", "no_python_workers_20250116", "no_python_workers_20260610")

PORT_TRIES = 3


class PortTaken(RuntimeError):
    """wrangler could not bind its port: another process took it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WranglerDev:
    """The Worker served by `wrangler dev` on 127.0.0.1:`port`, its state in `persist_dir`."""

    def __init__(self, *, values: Mapping[str, str], state_dir: Path, bundle_dir: Path, port: int | None = None,
                 secret_names: tuple[str, ...] = (), required: tuple[str, ...] = (), echo: IO[str] | None = None,
                 root: Path = REPO) -> None:
        self.root, self.state_dir, self.bundle_dir = root, Path(state_dir), Path(bundle_dir)
        self.values = dict(values)
        self.port = port or free_port()
        # A port picked here was free when picked, not when wrangler binds it: another process on the
        # machine (a parallel test's workerd) may take it meanwhile. Such a port is picked again.
        self._port_chosen = port is None
        self.persist_dir = self.state_dir / "persist"
        self.log_path = self.state_dir / "worker.log"
        self._env_file = self.state_dir / "worker.env"
        self._redact = Redactor(self.values[name] for name in secret_names if name in self.values)
        self._echo = echo
        self._required = required
        self._proc: subprocess.Popen[str] | None = None
        self._pump: threading.Thread | None = None
        self._log_mark = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        flags = [arg for flag in DEV_FLAGS for arg in ("--compatibility-flags", flag)]
        node = find_node(self.root)
        if node is None:
            raise RuntimeError("no Node >= 22 to run wrangler (run scripts/install_node_tools.sh)")
        return [node, str(WRANGLER_JS), "dev", "--config", str(self.root / "wrangler.toml"),
                "--ip", "127.0.0.1", "--port", str(self.port), "--inspector-port", str(free_port()),
                "--persist-to", str(self.persist_dir), "--env-file", str(self._env_file),
                "--show-interactive-dev-session=false", *flags]

    def start(self, timeout: float = 120, ready_path: str = "/health") -> WranglerDev:
        """Start, and return once `GET {ready_path}` answers 200 (Python is loaded by then)."""
        for tries_left in range(PORT_TRIES - 1, -1, -1):
            try:
                return self._start(timeout, ready_path)
            except PortTaken:
                if not self._port_chosen or not tries_left:
                    raise
                self._note(f"port {self.port} was taken before wrangler bound it; trying another")
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start(self, timeout: float, ready_path: str) -> WranglerDev:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._log_mark = len(self.log_text())  # what this start writes comes after it
        for name in self._required:
            if not self.values.get(name):
                # Named now rather than discovered by the first request that needs it.
                self._note(f"secret {name} is not set (.dev.vars or the environment): "
                           "routes that need it answer 500 config_error")
        write_env_file(self._env_file, self.values)
        env = {**os.environ, **WRANGLER_ENV, "MINIFLARE_WORKERD_PATH": str(WORKERD_WRAPPER), "DEV_WORKERD_BIN": str(workerd_binary(self.root)),
               "DEV_PYODIDE_BUNDLE_DIR": str(self.bundle_dir)}
        self._proc = subprocess.Popen(self.command(), cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      errors="replace", start_new_session=True)
        reaper.watch(self._proc.pid)  # its pid is its group's id: the leader of a new session
        self._pump = threading.Thread(target=self._copy_output, args=(self._proc.stdout,), daemon=True)
        self._pump.start()
        self._wait_ready(timeout, ready_path)
        return self

    def _note(self, text: str) -> None:
        """A line of the launcher's own in the log (and on the terminal)."""
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"[dev_runtime] {text}\n")
        self._to_terminal(f"[dev_runtime] {text}\n")

    def _to_terminal(self, text: str) -> None:
        if self._echo is None:
            return
        try:
            self._echo.write(text)
            self._echo.flush()
        except OSError:  # the terminal closed (SIGHUP, EIO): the log file goes on, and the pipe is drained
            self._echo = None

    def _copy_output(self, stream: IO[str]) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            for line in stream:
                clean = self._redact(line)
                log.write(clean)
                log.flush()
                self._to_terminal(clean)

    def _wait_ready(self, timeout: float, ready_path: str = "/health") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc else None
                self._signal_group(signal.SIGTERM, 5)  # a workerd it started may still be running
                taken = "Address already in use" in self.log_text()[self._log_mark:]
                raise (PortTaken if taken else RuntimeError)(f"wrangler dev exited with {code}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + ready_path, timeout=30).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # nothing to await: the server is not listening yet
        self.kill()
        raise RuntimeError(f"the Worker did not answer {ready_path} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to the whole group; SIGKILL what is still there after `grace` seconds."""
        self._signal_group(signal.SIGTERM, grace)

    def kill(self) -> None:
        """SIGKILL to the whole group: a crash, with no shutdown at all."""
        self._signal_group(signal.SIGKILL, 0)

    def restart(self, timeout: float = 120) -> WranglerDev:
        """Stop, then start again on the same port and the same persisted state."""
        self.stop()
        return self.start(timeout)

    def _signal_group(self, sig: signal.Signals, grace: float) -> None:
        if self._proc is None:
            return
        pgid = self._proc.pid  # the leader of its own session and group
        end_group(pgid, sig, grace, self._proc.poll)
        reaper.forget(pgid)  # ended: the kernel may hand this pgid to another group now
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self._proc = None
        if self._pump is not None:
            self._pump.join(5)
            self._pump = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log(self, predicate: Callable[[str], bool], timeout: float = 30) -> str:
        """Wait until the log satisfies `predicate`; returns the log."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if predicate(text):
                return text
            if time.monotonic() >= deadline:
                raise TimeoutError(f"log condition not met within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def __enter__(self) -> WranglerDev:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
