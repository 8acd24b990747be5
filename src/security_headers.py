"""The headers that say what a response is, on every response the Worker builds itself.

Every answer of the API (JSON, errors, the entry point's own answers) is data: `nosniff` keeps a
browser from reading it as anything but its declared type. Objects add a sandbox CSP and a
Content-Disposition (`storage.content_types`); the pages get theirs from `public/_headers`, which
the assets layer applies without entering Python.
"""

from __future__ import annotations

NOSNIFF = {"X-Content-Type-Options": "nosniff"}
