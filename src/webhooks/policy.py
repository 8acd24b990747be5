"""What a job's webhook may be and when its deliveries are tried: events, URLs, the retry schedule.

Events: `started` (the job reached a GPU), `progress` (coalesced: at most one waiting per job, the
latest wins), `retrying` (an attempt failed for a reason not the input's, or a request retried the
job: it runs again), `completed` (any terminal state: complete, error, cancelled, expired,
timed_out). A start names any of them; `completed` is the default.

URLs: https on its default port (443) only outside development (`ENVIRONMENT` development or test,
where receivers run locally on http, on any port); the host must be one of `WEBHOOK_HOSTS`
(comma-separated; a leading `*.` allows subdomains), or the host of the deployment's `WEBHOOK_URL`.
With neither set, a start cannot name a webhook (400): a URL chosen by a caller is an outbound request
from the Worker, so where it may go is the deployment's decision. No credentials in the URL, no
fragment. `WEBHOOK_URL` itself is the deployment's own choice and passes as it is. The rules are
checked at the start, and again before every attempt and at a redelivery (webhooks/dispatch.py): a
deploy may have narrowed them since the job was started.

Schedule: the delays between attempts, `WEBHOOK_RETRY_SCHEDULE_S`. The default — 5 s, 5 min, 30 min,
2 h, 5 h, 10 h, 10 h — spans about a day (27.6 h) in 8 attempts: the first retries catch a receiver
restarting, the later ones an outage of a working day, as Standard Webhooks' reference schedule does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_LDH = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
EVENTS = ("started", "progress", "retrying", "completed")
DEFAULT_EVENTS = ("completed",)
DEFAULT_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_URL_CHARS = 2000
TIMEOUT_S = 10.0
EXCERPT_CHARS = 200  # of a receiver's answer, kept in the delivery log


class WebhookRefused(ValueError):
    """A webhook URL the deployment does not allow; the message says why (never the URL's secrets)."""


def parse_schedule(text: str) -> tuple[int, ...]:
    """Seconds between attempts from `"5,300,1800"`; the default when empty; ValueError when malformed."""
    if not text.strip():
        return DEFAULT_SCHEDULE_S
    delays = tuple(int(part) for part in text.split(","))
    if any(d < 0 or d > 7 * 24 * 3600 for d in delays) or len(delays) > 30:
        raise ValueError("WEBHOOK_RETRY_SCHEDULE_S: up to 30 delays of 0-604800 s")
    return delays


def parse_hosts(text: str) -> tuple[str, ...]:
    return tuple(h.strip().lower().rstrip(".") for h in text.split(",") if h.strip())


def _host_allowed(host: str, allowed: Iterable[str]) -> bool:
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def check_url(url: str, *, hosts: tuple[str, ...], default_url: str, development: bool) -> str:
    """`url` if a delivery may go there, else WebhookRefused."""
    if default_url and url == default_url:  # the deployment's own webhook: its operator chose it, port and all
        return url
    if len(url) > MAX_URL_CHARS:
        raise WebhookRefused(f"webhook: at most {MAX_URL_CHARS} characters")
    # fetch parses URLs by WHATWG rules, urlsplit by RFC 3986: they disagree on `\`, whitespace and
    # controls (`https://evil.test\.allowed.test/` is evil.test to fetch), so none of them may appear.
    if not url.isascii() or any(c == "\\" or c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise WebhookRefused("webhook: backslashes, spaces, control and non-ASCII characters are not allowed")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise WebhookRefused("webhook: not a URL") from None
    schemes = ("https", "http") if development else ("https",)
    if parts.scheme not in schemes:
        raise WebhookRefused("webhook: the scheme must be https" + (" or http" if development else ""))
    if not host or not _LDH.fullmatch(host):
        raise WebhookRefused("webhook: the host must be a name of letters, digits, hyphens and dots")
    # Outside development a receiver listens where https does: another port of an allowed host (its
    # admin or internal services) is not a webhook. Local receivers run on any port.
    if not development and port not in (None, 443):
        raise WebhookRefused("webhook: only https's default port (443) outside development")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("webhook: credentials do not belong in the URL")
    if parts.fragment:
        raise WebhookRefused("webhook: the URL has a fragment")
    allowed = hosts + ((urlsplit(default_url).hostname or "").lower(),) if default_url else hosts
    if not _host_allowed(host, [a for a in allowed if a]):
        raise WebhookRefused("webhook: this host is not one the deployment allows (WEBHOOK_HOSTS)")
    return url


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise WebhookRefused(f"webhook_events: any of {', '.join(EVENTS)}")
    return chosen
