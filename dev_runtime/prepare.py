"""Everything a `wrangler dev` run needs besides node_modules/: the bundle and python_modules/."""

from __future__ import annotations

import sys
from pathlib import Path

from dev_runtime import build_bundle, python_modules


def prepare() -> Path:
    """Build (or find cached) the development Pyodide bundle and python_modules/. → bundle folder."""
    bundle, built = build_bundle.build(build_bundle.DEFAULT_OUT)
    print(f"pyodide dev bundle: {'built' if built else 'up to date'} ({bundle})", file=sys.stderr)
    print(python_modules.ensure(), file=sys.stderr)
    return bundle.parent


if __name__ == "__main__":
    prepare()
