"""Bundle the Worker offline with `wrangler deploy --dry-run` and check what would ship.

What wrangler writes to --outdir for a Python main module (wrangler 4.156): every `**/*.py`
under the main module's folder (src/) at its path relative to it, so `src/entry.py` is `entry.py`
at the root; `*.txt`, `*.html` and `*.sql` files under src/ too (shipped as text modules); the
project's `python_modules/` as `python_modules/...` when it exists (pywrangler vendors packages
there); and a `README.md` of wrangler's own. Nothing is compiled or concatenated: each file is a
copy of its source.

The check, driven by what is on disk rather than by a list of modules:
- every `.py` under src/ is in the bundle, at its path relative to src/, byte for byte;
- every file in the bundle is a byte-for-byte copy of the file at the same path under src/ (or under
  python_modules/ for `python_modules/...`), or wrangler's README.md; anything else is reported,
  naming the never-deployed folder (tests/, dev_runtime/, ...) it seems to come from;
- wrangler saw every binding and var declared in wrangler.toml;
- the main module binds `Default` and every Durable Object class named in wrangler.toml at module
  level: the runtime looks Durable Object classes up on the main module;
- the static assets hold the Swagger UI files `/docs` loads (public/vendor/swagger-ui/, git-ignored,
  copied by `python -m dev_runtime.prepare`): wrangler uploads public/ as it finds it, so a deploy
  without them would serve a blank `/docs`.

Wrangler runs on the Node 22 that scripts/install_node_tools.sh installs, with telemetry, error
reports and the update check off, so it makes no network connection.

Usage: check_bundle.py [--outdir DIR]   (keep the bundle in DIR instead of a temporary folder)
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dev_runtime.node_tools import WRANGLER_ENV, find_node  # noqa: E402
from dev_runtime.swagger_ui import FILES as SWAGGER_UI_FILES  # noqa: E402
from dev_runtime.swagger_ui import VENDOR as SWAGGER_UI_DIR  # noqa: E402

NEVER_SHIPPED = ("tests", "dev_runtime", "client", "scripts", "gpu_worker", "docs")
WRANGLER_README_START = b"This folder contains the built output assets for the worker"
# What wrangler ships from the main module's folder besides Python modules.
TEXT_SUFFIXES = (".txt", ".html", ".sql")

def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(base: Path) -> dict[str, Path]:
    """Every file under base by its posix path relative to base, without __pycache__."""
    if not base.is_dir():
        return {}
    return {p.relative_to(base).as_posix(): p for p in base.rglob("*")
            if p.is_file() and "__pycache__" not in p.relative_to(base).parts}


def _origin_hint(shipped: Path, root: Path) -> str:
    """Where a stray bundle file seems to come from: a never-deployed file with its name or content."""
    digest = _digest(shipped)
    same_name = same_content = None
    for folder in NEVER_SHIPPED:
        for rel, path in _files(root / folder).items():
            if path.name == shipped.name and same_name is None:
                same_name = f"{folder}/{rel}"
            if same_content is None and path.stat().st_size and _digest(path) == digest:
                same_content = f"{folder}/{rel}"
    if same_content:
        return f" (same content as {same_content})"
    if same_name:
        return f" (same name as {same_name})"
    return ""


def inspect_bundle(out: Path, root: Path = ROOT) -> tuple[list[str], dict[str, int]]:
    """Compare a dry-run output folder with the project at root. Returns (problems, counts)."""
    src, vendored = root / "src", root / "python_modules"
    sources = _files(src)
    shipped = _files(out)
    problems: list[str] = []
    counts = {"modules": 0, "text": 0, "vendored": 0}

    for rel in sorted(r for r in sources if r.endswith(".py")):
        if rel not in shipped:
            problems.append(f"missing from the bundle: src/{rel}")

    for rel, path in sorted(shipped.items()):
        top = rel.split("/")[0]
        if rel == "README.md" and path.read_bytes().startswith(WRANGLER_README_START):
            continue  # wrangler's own note
        if top == "python_modules":
            origin = vendored / rel.removeprefix("python_modules/")
            if origin.is_file() and _digest(origin) == _digest(path):
                counts["vendored"] += 1
            else:
                problems.append(f"must not ship: {rel} is not a copy of the project's {rel}")
            continue
        if top in NEVER_SHIPPED:
            problems.append(f"must not ship: {rel} (the bundle has a top-level {top}/, a never-deployed folder)")
            continue
        origin = sources.get(rel)
        if origin is None:
            problems.append(f"must not ship: {rel} is not a file under src/{_origin_hint(path, root)}")
        elif _digest(origin) != _digest(path):
            problems.append(f"must not ship: {rel} differs from src/{rel}{_origin_hint(path, root)}")
        else:
            counts["modules" if rel.endswith(".py") else "text"] += 1
    return problems, counts


def check_config_seen(output: str, config: dict) -> list[str]:
    """Every binding and var of wrangler.toml appears in wrangler's list of bindings."""
    names = [b["binding"] for b in config.get("r2_buckets", [])]
    names += [b["name"] for b in config.get("durable_objects", {}).get("bindings", [])]
    names += list(config.get("vars", {}))
    return [f"wrangler did not report the binding env.{n} declared in wrangler.toml"
            for n in names if f"env.{n} " not in output]


def check_main_exports(main: Path, config: dict) -> list[str]:
    """The main module binds Default and each Durable Object class at module level."""
    tree = ast.parse(main.read_text(), filename=str(main))
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            bound |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Assign):
            bound |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    wanted = ["Default"] + [b["class_name"] for b in config.get("durable_objects", {}).get("bindings", [])
                            if "script_name" not in b]
    return [f"{main.name} does not define or import {name} at module level (the runtime looks it up there)"
            for name in wanted if name not in bound]


def check_docs_assets(root: Path = ROOT) -> list[str]:
    """The Swagger UI files of `/docs` are in the assets folder that wrangler uploads."""
    missing = [name for name in SWAGGER_UI_FILES if not (root / SWAGGER_UI_DIR / name).is_file()]
    if not missing:
        return []
    return [f"{SWAGGER_UI_DIR}/ lacks {', '.join(missing)}: /docs would be blank once deployed "
            "(run .venv/bin/python -m dev_runtime.prepare first)"]


def run_dry_run(out: Path, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    node = find_node(root)
    wrangler = root / "node_modules" / "wrangler" / "bin" / "wrangler.js"
    if node is None or not wrangler.is_file():
        raise FileNotFoundError("wrangler or Node >= 22 is not installed: run scripts/install_node_tools.sh")
    logs = out.parent / f"{out.name}-wrangler-logs"
    env = {**os.environ, **WRANGLER_ENV, "WRANGLER_LOG_PATH": str(logs),
           "PATH": f"{Path(node).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        return subprocess.run([node, str(wrangler), "deploy", "--dry-run", "--outdir", str(out)], cwd=root,
                              env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outdir", type=Path, help="keep the bundle here (emptied first)")
    args = parser.parse_args(argv)
    config = tomllib.loads((ROOT / "wrangler.toml").read_text())
    main_module = ROOT / config["main"]
    if main_module.parent != ROOT / "src" or "base_dir" in config:
        print(f"check_bundle: expects main under src/ and no base_dir; wrangler.toml has main={config['main']!r}"
              f"{' and base_dir=' + repr(config['base_dir']) if 'base_dir' in config else ''}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        out = args.outdir.resolve() if args.outdir else Path(tmp) / "out"
        if args.outdir:
            shutil.rmtree(out, ignore_errors=True)
        started = time.monotonic()
        try:
            result = run_dry_run(out)
        except FileNotFoundError as exc:
            print(f"check_bundle: {exc}", file=sys.stderr)
            return 2
        seconds = time.monotonic() - started
        if result.returncode != 0:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
            print(f"check_bundle: wrangler deploy --dry-run failed (exit {result.returncode})", file=sys.stderr)
            return 1
        problems, counts = inspect_bundle(out)
    problems += check_config_seen(result.stdout + result.stderr, config)
    problems += check_main_exports(main_module, config)
    problems += check_docs_assets()
    if problems:
        print("\n".join(f"check_bundle: {p}" for p in problems), file=sys.stderr)
        return 1
    extras = "".join(f", {counts[k]} {k} files" for k in ("text", "vendored") if counts[k])
    print(f"bundle ok: {counts['modules']} modules from src/{extras}, nothing from "
          f"{'/, '.join(NEVER_SHIPPED)}/ (wrangler deploy --dry-run, {seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
