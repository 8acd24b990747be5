"""Keep secrets out of the development log.

Every line `wrangler dev` (and the Worker's own prints) writes passes through `Redactor` before it
reaches the terminal or a log file. It hides the values of the Worker's secrets wherever they
appear, and the values of URL query parameters that are credentials by themselves: a callback's
`sig`, a signed URL's signature and expiry, a WebSocket `token`, SigV4's `X-Amz-*`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

HIDDEN = "[redacted]"
# Query parameters whose value is a credential (or, for a signed URL, part of one).
SECRET_PARAMS = ("sig", "token", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token")
_NAMES = "|".join(re.escape(p) for p in SECRET_PARAMS)
_PARAM = re.compile(rf"([?&](?:{_NAMES})=)[^&\s\"'#]*", re.IGNORECASE)
# Shorter values are not worth hiding and would hide ordinary words (e.g. an empty secret).
MIN_SECRET_LENGTH = 8


class Redactor:
    def __init__(self, secret_values: Iterable[str]) -> None:
        values = set()
        for value in secret_values:
            # API_KEYS holds a comma-separated list: each key is a secret on its own.
            values.update(part.strip() for part in value.split(","))
        # Longest first, so a secret that contains another is hidden whole.
        self._values = sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for value in self._values:
            if value in line:
                line = line.replace(value, HIDDEN)
        return _PARAM.sub(lambda m: m.group(1) + HIDDEN, line)
