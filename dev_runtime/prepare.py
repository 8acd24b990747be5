"""Everything a `wrangler dev` run needs besides node_modules/: the bundle, python_modules/, and the
vendored Swagger UI of `/docs` (which `wrangler deploy` needs too)."""

from __future__ import annotations

import sys
from pathlib import Path

from dev_runtime import build_bundle, python_modules, swagger_ui


def prepare() -> Path:
    """Build (or find cached) the development Pyodide bundle, python_modules/ and the static files
    of `/docs` (public/vendor/swagger-ui/). → bundle folder."""
    bundle, built = build_bundle.build(build_bundle.DEFAULT_OUT)
    print(f"pyodide dev bundle: {'built' if built else 'up to date'} ({bundle})", file=sys.stderr)
    print(python_modules.ensure(), file=sys.stderr)
    print(swagger_ui.ensure(), file=sys.stderr)
    return bundle.parent


if __name__ == "__main__":
    prepare()
