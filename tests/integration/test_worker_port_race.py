"""The launcher picks its Worker's port itself; a port taken between the pick and wrangler's bind (a
parallel test's workerd took it) is picked again instead of failing the start."""

from __future__ import annotations

import socket

import httpx

from dev_runtime import wrangler_dev
from tests.conftest import worker_env
from tests.worker_process import worker as make_worker_process


def test_a_port_taken_before_wrangler_binds_it_is_picked_again(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        picks = iter([taken.getsockname()[1]])
        real_free_port = wrangler_dev.free_port
        monkeypatch.setattr(wrangler_dev, "free_port", lambda: next(picks, None) or real_free_port())
        w = make_worker_process(tmp_path, worker_env())
        assert w.port == taken.getsockname()[1]
        with w:
            assert w.port != taken.getsockname()[1]
            assert httpx.get(w.base_url + "/health", timeout=30).status_code == 200
        assert "was taken before wrangler bound it" in w.log_text()
