"""Typed view of the Worker's vars and secrets (`self.env`), read once per `env` object.

Vars and secrets arrive as strings on `env`. A secret a route needs but that is not set raises
`MissingSecret`, which the app answers with a 500 naming the variable (never its value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from encode_queue import policy as queue_policy
from webhooks import policy as webhook_policy

SECRET_NAMES = (
    "RUNPOD_API_KEY",
    "API_KEYS",
    "USER_TOKEN_SECRET",
    "CALLBACK_SECRET",
    "URL_SIGNING_SECRET",
    "R2_ACCESS_KEY_ID",
    "R2_SECRET_ACCESS_KEY",
    "WEBHOOK_SECRET",
)


class MissingSecret(Exception):  # noqa: N818 - reads as what it is
    def __init__(self, name: str) -> None:
        super().__init__(f"secret {name} is not set")
        self.name = name


# The settings of the last few `env` objects, by identity. An `env`'s vars and secrets never change
# while it lives (a changed secret is a new version of the Worker, in new isolates), and one
# request reads them up to three times (entry point, CORS middleware, route dependency) from the
# same `env`. Each entry holds its `env`, so no other object can take its id() while it is cached.
_CACHE_SIZE = 16
_cache: dict[int, tuple[Any, Settings]] = {}


def _price(value: str) -> float | None:
    try:
        price = float(value)
    except ValueError:
        return None
    return price if math.isfinite(price) and price >= 0 else None


def _schedule(value: str) -> tuple[int, ...] | None:
    try:
        return webhook_policy.parse_schedule(value)
    except ValueError:  # a start with a webhook answers 500 config_error naming the var
        return None


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _positive(value: str, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if 0 < number < float("inf") else default


@dataclass(frozen=True)
class Settings:
    environment: str
    runpod_endpoint: str
    public_base_url: str
    cors_origins: tuple[str, ...]
    r2_account_id: str
    r2_bucket_name: str
    stall_poll_s: int
    queue_ttl_s: int  # a start's default `queue_ttl_s` (QUEUE_TTL_S; jobs/deadlines.py)
    execution_timeout_s: int  # a start's default `execution_timeout_s` (EXECUTION_TIMEOUT_S)
    max_attempts: int  # attempts of a job, automatic retries included (JOB_MAX_ATTEMPTS; jobs/attempts.py)
    submit_retry_base_s: float  # first delay between RunPod submission attempts (doubling)
    submit_timeout_s: float  # how long one RunPod submission may take before it counts as failed
    gpu_price_per_s: float | None  # USD per GPU-second (GPU_PRICE_PER_S); None: costs are not computed
    webhook_url: str  # the deployment's default webhook, for starts that name none ("" for none)
    webhook_hosts: tuple[str, ...]  # hosts a start's own webhook may name (webhooks.policy)
    webhook_schedule_s: tuple[int, ...] | None  # delays between delivery attempts; None when the var is malformed
    queue_priority_step_s: float  # the encode queue's head start per priority level (QUEUE_PRIORITY_STEP_S)
    queue_max_waiters: int  # claims that may wait at once on one queue (QUEUE_MAX_WAITERS)
    # The scheduler (scheduling/): jobs at RunPod and not yet terminal, per user and in all (the endpoint's
    # GPUs), and what one level of a start's priority is worth in waiting time.
    max_active_per_user: int
    max_active_total: int
    priority_step_s: float
    _secrets: dict[str, str]

    @classmethod
    def from_env(cls, env: Any) -> Settings:
        """The settings of `env`, parsed on its first use."""
        hit = _cache.get(id(env))
        if hit is not None and hit[0] is env:
            return hit[1]
        settings = cls._parse(env)
        if len(_cache) >= _CACHE_SIZE:
            del _cache[next(iter(_cache))]  # the oldest
        _cache[id(env)] = (env, settings)
        return settings

    @classmethod
    def _parse(cls, env: Any) -> Settings:
        def var(name: str, default: str = "") -> str:
            value = getattr(env, name, None)
            return default if value is None else str(value)

        origins = tuple(o.strip().rstrip("/") for o in var("CORS_ORIGINS").split(",") if o.strip())
        return cls(
            environment=var("ENVIRONMENT", "development"),
            runpod_endpoint=var("RUNPOD_ENDPOINT").rstrip("/"),
            public_base_url=var("PUBLIC_BASE_URL").rstrip("/"),
            cors_origins=origins,
            r2_account_id=var("R2_ACCOUNT_ID"),
            r2_bucket_name=var("R2_BUCKET_NAME"),
            stall_poll_s=max(1, _int(var("STALL_POLL_S"), 30)),
            # Any positive value here (tests and demos compress them); a start's own values are bounded.
            queue_ttl_s=max(1, _int(var("QUEUE_TTL_S"), 3600)),
            execution_timeout_s=max(1, _int(var("EXECUTION_TIMEOUT_S"), 3600)),
            max_attempts=max(1, _int(var("JOB_MAX_ATTEMPTS"), 3)),
            submit_retry_base_s=_positive(var("SUBMIT_RETRY_BASE_S"), 2.0),
            submit_timeout_s=_positive(var("SUBMIT_TIMEOUT_S"), 15.0),
            gpu_price_per_s=_price(var("GPU_PRICE_PER_S")),
            webhook_url=var("WEBHOOK_URL").strip(),
            webhook_hosts=webhook_policy.parse_hosts(var("WEBHOOK_HOSTS")),
            webhook_schedule_s=_schedule(var("WEBHOOK_RETRY_SCHEDULE_S")),
            queue_priority_step_s=_positive(var("QUEUE_PRIORITY_STEP_S"), queue_policy.DEFAULT_PRIORITY_STEP_S),
            queue_max_waiters=max(0, _int(var("QUEUE_MAX_WAITERS"), queue_policy.DEFAULT_MAX_WAITERS)),
            max_active_per_user=max(1, _int(var("MAX_ACTIVE_PER_USER"), 2)),
            max_active_total=max(1, _int(var("MAX_ACTIVE_TOTAL"), 4)),
            priority_step_s=_positive(var("PRIORITY_STEP_S"), 60.0),
            _secrets={name: var(name) for name in SECRET_NAMES},
        )

    @property
    def development(self) -> bool:
        """A development or test deployment, where webhook receivers run locally (http, any port)."""
        return self.environment in ("development", "test")

    def secret(self, name: str) -> str:
        """The secret's value; raises MissingSecret when it is unset or empty."""
        value = self._secrets.get(name, "")
        if not value:
            raise MissingSecret(name)
        return value

    def has_secret(self, name: str) -> bool:
        return bool(self._secrets.get(name))

    def __repr__(self) -> str:  # secrets never reach logs through a repr
        return f"Settings(environment={self.environment!r}, runpod_endpoint={self.runpod_endpoint!r})"
