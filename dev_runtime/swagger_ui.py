"""Copy Swagger UI's files from the pinned npm package into public/vendor/swagger-ui/ for `/docs`.

FastAPI's own `/docs` page loads Swagger UI from a CDN, which is blank offline and tells a third
party about every visit. `public/docs.html` (with `public/assets/docs.js`) points the page at these copies instead, which the
Worker serves as static assets (wrangler.toml `[assets]`), in development and once deployed alike:
`wrangler deploy` uploads public/ as it is, so this must run before a deploy (docs/deploy.md).

The package is the devDependency `swagger-ui-dist` of package.json (installed into node_modules/ by
scripts/install_node_tools.sh); the folder is git-ignored. A missing package, or one whose version
is not package.json's pin, is an error: a stale copy would be served without anyone noticing.
Cheap when up to date: each file is compared by content and written only when it differs.

Usage: .venv/bin/python -m dev_runtime.swagger_ui   (prints one status line)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "swagger-ui-dist"
VENDOR = Path("public/vendor/swagger-ui")  # relative to the repository; the URL path is /vendor/swagger-ui/

# What `public/docs.html` loads (the bundle carries the standalone preset FastAPI's
# page uses), and the licence texts that must travel with redistributed Apache-2.0 files. The
# source maps are left out: 10+ MB that only a developer tool would ever ask for.
FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "favicon-32x32.png",
    "LICENSE",
    "NOTICE",
    "swagger-ui-bundle.js.LICENSE.txt",
)


class SwaggerUIMissing(RuntimeError):
    pass


def _pinned_version(root: Path) -> str:
    manifest = json.loads((root / "package.json").read_text())
    deps = {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}
    if PACKAGE not in deps:
        raise SwaggerUIMissing(f"package.json does not list {PACKAGE}")
    return deps[PACKAGE]


def ensure(root: Path = ROOT, dest: Path | None = None) -> str:
    """Bring `dest` (default public/vendor/swagger-ui/) in line with the installed package."""
    dest = dest or root / VENDOR
    source = root / "node_modules" / PACKAGE
    want = _pinned_version(root)
    try:
        installed = json.loads((source / "package.json").read_text())["version"]
    except FileNotFoundError:
        raise SwaggerUIMissing(f"node_modules/{PACKAGE} is missing: run scripts/install_node_tools.sh") from None
    if installed != want:
        raise SwaggerUIMissing(f"node_modules/{PACKAGE} is {installed}, package.json pins {want}: "
                               "run scripts/install_node_tools.sh")
    missing = [name for name in FILES if not (source / name).is_file()]
    if missing:
        raise SwaggerUIMissing(f"{PACKAGE} {installed} has no {', '.join(missing)}: the file list here needs updating")

    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    for name in FILES:
        data = (source / name).read_bytes()
        target = dest / name
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)
            written += 1
    # Files of an earlier version (or an earlier list) would otherwise be deployed too.
    stale = [p for p in dest.iterdir() if p.name not in FILES]
    for path in stale:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shown = dest.relative_to(root) if dest.is_relative_to(root) else dest
    changed = f"{written} file(s) copied" + (f", {len(stale)} removed" if stale else "") if written or stale else "up to date"
    return f"swagger ui: {PACKAGE} {installed} in {shown}/ ({changed})"


if __name__ == "__main__":
    try:
        print(ensure())
    except SwaggerUIMissing as exc:
        sys.exit(f"swagger_ui: error: {exc}")
