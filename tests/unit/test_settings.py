"""Settings are parsed once per `env` object, and never served for another env."""

from __future__ import annotations

from types import SimpleNamespace

import settings as settings_module
from settings import Settings


def env(**values) -> SimpleNamespace:
    return SimpleNamespace(CORS_ORIGINS="http://a.test", STALL_POLL_S="7", **values)


def test_one_env_is_parsed_once():
    e = env()
    first = Settings.from_env(e)
    assert first.stall_poll_s == 7 and first.cors_origins == ("http://a.test",)
    assert Settings.from_env(e) is first


def test_each_env_gets_its_own_settings():
    a, b = env(RUNPOD_API_KEY="key-a"), env(RUNPOD_API_KEY="key-b")
    assert Settings.from_env(a).secret("RUNPOD_API_KEY") == "key-a"
    assert Settings.from_env(b).secret("RUNPOD_API_KEY") == "key-b"
    assert Settings.from_env(a).secret("RUNPOD_API_KEY") == "key-a"


def test_a_new_env_never_gets_a_dropped_envs_settings():
    # Envs made and dropped one after another often reuse one address (the same id()); each must
    # still be read for itself.
    for i in range(3 * settings_module._CACHE_SIZE):
        assert Settings.from_env(env(QUEUE_TTL_S=str(i + 1))).queue_ttl_s == i + 1


def test_the_cache_stays_bounded_and_re_reads_an_evicted_env():
    kept = env(ENVIRONMENT="kept")
    first = Settings.from_env(kept)
    others = [env() for _ in range(settings_module._CACHE_SIZE)]
    for other in others:
        Settings.from_env(other)
    assert len(settings_module._cache) <= settings_module._CACHE_SIZE
    again = Settings.from_env(kept)
    assert again is not first and again == first
