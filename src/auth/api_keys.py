"""Server API keys from the `API_KEYS` secret (comma-separated)."""

from __future__ import annotations

from auth.compare import matches_any


def parse_keys(raw: str) -> list[str]:
    return [k.strip() for k in raw.split(",") if k.strip()]


def is_valid_key(candidate: str, raw_keys: str) -> bool:
    keys = parse_keys(raw_keys)
    return bool(candidate) and bool(keys) and matches_any(candidate, keys)
