"""The Worker served by `wrangler dev` on workerd + Pyodide, as tests and benchmarks start it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

from dev_runtime.dev_vars import required_secret_names, secret_names, worker_values
from dev_runtime.prepare import prepare
from dev_runtime.wrangler_dev import REPO, WranglerDev

# Tests never read the developer's own `.dev.vars`: every value comes from the test.
_NO_DEV_VARS = Path("/nonexistent/.dev.vars")


@cache
def bundle_dir() -> Path:
    """The development Pyodide bundle and python_modules/, built once per test session."""
    return prepare()


def worker(state_dir: Path, env: Mapping[str, str], port: int | None = None, root: Path = REPO) -> WranglerDev:
    """A not yet started Worker whose vars and secrets are `env` (over wrangler.toml's [vars]); `root` is
    the project it serves (a scratch variant of this one, for the benchmark's entry counter)."""
    values = worker_values(REPO, environ=env, dev_vars=_NO_DEV_VARS)
    return WranglerDev(values=values, state_dir=state_dir, bundle_dir=bundle_dir(), port=port,
                       secret_names=tuple(secret_names(REPO)), required=tuple(required_secret_names(REPO)), root=root)
