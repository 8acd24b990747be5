"""User ids: 1–64 characters of [A-Za-z0-9_-], so they are safe as an R2 key prefix."""

from __future__ import annotations

import re

_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and bool(_USER_ID.match(value))
