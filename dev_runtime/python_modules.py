"""Fill python_modules/ with the Python packages the deployed Worker imports, built for workerd's Pyodide.

Target: CPython 3.14.2 inside Pyodide 314.0.6 (what workerd 1.20261023.1, from wrangler 4.156.0, runs),
wheel platform `pyemscripten_2026_0_wasm32`. wrangler uploads every file under python_modules/ (beside
wrangler.toml) with the Worker, and the runtime imports from it. Production picks its Python from the
compatibility date: 3.14 needs a date >= 2026-09-08 or the `python_workers_314` flag; before that it is
3.13, for which these wheels (pydantic-core's cp314 wasm32 build) are wrong.

Why not `pywrangler sync` (PyPI workers-py 1.17.9), which does the same job: it makes a host venv with
`uv venv --python python3.13` (a python-build-standalone download from GitHub unless such a Python is
installed), then a Pyodide venv with `uv venv --python cpython-3.1x.y-emscripten-wasm32-musl` (uv
downloads Pyodide's xbuildenv from GitHub), then resolves with `uv pip compile` against
https://index.pyodide.org/<version>. The build machines reach none of those hosts, only PyPI. So this
script works from uv.lock instead:

1. `uv lock --check`: uv.lock must agree with pyproject.toml (no network needed while it does).
2. Walk uv.lock from the project's `[project].dependencies` (never the dev group), following only the
   dependency edges whose environment markers hold on the target, each package at its locked version.
3. Per package, take the locked wheel whose tags suit the target best (a cp314 wasm32 wheel for native
   code, otherwise a pure-Python one); no sdists, nothing is built. Add workers-runtime-sdk, pinned here.
4. Download each wheel once into .tools/wheels/ and check its sha256 against uv.lock (or the pin).
5. Unpack them into a fresh folder laid out like site-packages (packages plus `*.dist-info`; a wheel's
   `.data/purelib` and `.data/platlib` merged in, its scripts, headers and data left out), check it
   (every shared library is WebAssembly; every Requires-Dist that applies on the target is vendored at
   a matching version), and put it in place of python_modules/.
6. Write python_modules/.vendor-stamp: a hash of uv.lock, pyproject.toml and the pins below. While it
   matches, the script does nothing.

workers-runtime-sdk is pinned here rather than listed in pyproject.toml: installed into the CPython
.venv it would add a `workers` package that only works inside workerd (plus a top-level `asgi` module
and a `.pth` start-up hook). `pywrangler deploy` adds it to python_modules by itself.

Usage: .venv/bin/python -m dev_runtime.python_modules [--force | --check]
  --force  rebuild even when the stamp matches
  --check  change nothing; exit 1 when python_modules/ is missing or stale
Prints one status line on success; on failure an error on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import zipfile
from collections import deque
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import Any

try:
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.tags import compatible_tags, cpython_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename
    from packaging.version import Version
except ImportError:
    sys.exit("python_modules: error: `packaging` is missing; run this with .venv/bin/python")

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "python_modules"
STAMP = VENDOR_DIR / ".vendor-stamp"
WHEEL_CACHE = ROOT / ".tools" / "wheels"
UV = ROOT / ".tools" / "uv" / "bin" / "uv"

# --- pins: changing any of these rebuilds python_modules/ -------------------------------------------
PYTHON_VERSION = (3, 14)
PLATFORM = "pyemscripten_2026_0_wasm32"
# Environment markers as Python evaluates them inside Pyodide.
TARGET_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.14.2",
    "os_name": "posix",
    "platform_machine": "wasm32",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Emscripten",
    "platform_version": "",
    "python_full_version": "3.14.2",
    "python_version": "3.14",
    "sys_platform": "emscripten",
    "extra": "",
}
# Bump when the way wheels are unpacked changes.
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


# The `workers` SDK; the runtime no longer has it built in. To move the pin, take the wheel's URL and
# sha256 from https://pypi.org/simple/workers-runtime-sdk/.
WORKERS_SDK = Wheel(
    name="workers-runtime-sdk",
    version="1.9.5",
    url="https://files.pythonhosted.org/packages/ad/33/1154f8d518becf3ca3dea57627dea7a84888937cf7b313e6dc4e6f7c7fdf/"
    "workers_runtime_sdk-1.9.5-py3-none-any.whl",
    sha256="f2b912660a3ab60d2a24920106422f9eaf4cd7a794e42b022237ad2444287fef",
)
# -------------------------------------------------------------------------------------------------

# Wheel tags the target accepts, best first (cp314-cp314-<platform> ... py3-none-any), as pip orders them.
TAG_RANK = {
    tag: rank
    for rank, tag in enumerate(
        [
            *cpython_tags(PYTHON_VERSION, abis=["cp314"], platforms=[PLATFORM]),
            *compatible_tags(PYTHON_VERSION, "cp314", platforms=[PLATFORM]),
        ]
    )
}
SHARED_LIBRARY_SUFFIXES = {".so", ".pyd", ".dll", ".dylib"}
WASM_MAGIC = b"\0asm"


class VendorError(Exception):
    """A failure with a message meant for the person running the script."""


def stamp_digest() -> str:
    """Hash of everything python_modules/ is built from."""
    digest = hashlib.sha256()
    for path in (ROOT / "uv.lock", ROOT / "pyproject.toml"):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    pins = {"platform": PLATFORM, "env": TARGET_ENV, "sdk": WORKERS_SDK.__dict__, "layout": LAYOUT_VERSION}
    digest.update(json.dumps(pins, sort_keys=True).encode())
    return digest.hexdigest()


def read_stamp() -> list[str]:
    """The stamp's lines: the digest, then one `name==version` per vendored wheel ([] when absent)."""
    return STAMP.read_text().splitlines() if STAMP.is_file() else []


def check_lock_is_current() -> None:
    if not UV.is_file():
        raise VendorError(f"{UV.relative_to(ROOT)} is missing; run scripts/bootstrap first")
    result = subprocess.run(
        [str(UV), "lock", "--check"],
        cwd=ROOT,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise VendorError(
            "uv.lock does not match pyproject.toml; run .tools/uv/bin/uv lock\n" + result.stderr.strip()
        )


def best_wheel(package: dict[str, Any]) -> Wheel:
    """The locked wheel of `package` that suits the target best."""
    name, version = package["name"], package["version"]
    if "registry" not in package.get("source", {}):
        raise VendorError(
            f"{name} {version} in uv.lock does not come from a package index; vendor it by hand"
        )
    ranked: list[tuple[int, dict[str, Any]]] = []
    for entry in package.get("wheels", []):
        tags = parse_wheel_filename(entry["url"].rsplit("/", 1)[-1])[3]
        ranks = [TAG_RANK[tag] for tag in tags if tag in TAG_RANK]
        if ranks:
            ranked.append((min(ranks), entry))
    if not ranked:
        raise VendorError(
            f"{name} {version}: uv.lock lists no wheel for CPython 3.14 on {PLATFORM} (neither pure "
            "Python nor wasm32), so it cannot run in the Worker"
        )
    entry = min(ranked, key=lambda item: item[0])[1]
    algorithm, _, sha256 = entry["hash"].partition(":")
    if algorithm != "sha256":
        raise VendorError(f"{name} {version}: uv.lock has a {algorithm} hash, expected sha256")
    return Wheel(name, version, entry["url"], sha256)


def locked_runtime_wheels() -> list[Wheel]:
    """The runtime dependency tree of the project, as uv.lock pins it, for the target environment."""
    project = canonicalize_name(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"])
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]:
        by_name.setdefault(package["name"], []).append(package)
    roots = by_name.get(project, [])
    if len(roots) != 1:
        raise VendorError(f"uv.lock has {len(roots)} entries for the project {project!r}, expected 1")

    chosen: dict[str, dict[str, Any]] = {}
    seen_extras: set[tuple[str, str]] = set()
    edges = deque(roots[0].get("dependencies", []))
    while edges:
        edge = edges.popleft()
        if "marker" in edge and not Marker(edge["marker"]).evaluate(TARGET_ENV):
            continue
        matches = [
            p for p in by_name.get(edge["name"], []) if edge.get("version", p["version"]) == p["version"]
        ]
        if len(matches) != 1:
            raise VendorError(f"uv.lock: {len(matches)} entries match the dependency {edge}, expected 1")
        package = matches[0]
        name = package["name"]
        if name not in chosen:
            chosen[name] = package
            edges.extend(package.get("dependencies", []))
        elif chosen[name] is not package:
            raise VendorError(f"uv.lock pins two versions of {name} for the target; vendor one by hand")
        for extra in edge.get("extra", []):
            if (name, extra) not in seen_extras:
                seen_extras.add((name, extra))
                edges.extend(package.get("optional-dependencies", {}).get(extra, []))
    return [best_wheel(chosen[name]) for name in sorted(chosen)]


def fetch(wheel: Wheel) -> tuple[Path, bool]:
    """The wheel's file in the cache, downloaded when missing or corrupt; and whether it was downloaded."""
    path = WHEEL_CACHE / wheel.filename
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == wheel.sha256:
        return path, False
    try:
        with urllib.request.urlopen(wheel.url, timeout=120) as response:
            data = response.read()
    except OSError as exc:
        raise VendorError(f"downloading {wheel.url} failed: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != wheel.sha256:
        raise VendorError(f"{wheel.filename}: sha256 is {actual}, the pin says {wheel.sha256}")
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)
    return path, True


def unpack(wheel: Path, dest: Path, owners: dict[str, str]) -> None:
    """Unpack a wheel into `dest` as an installer lays out site-packages; `owners` maps file → wheel."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = PurePosixPath(info.filename)
            parts = path.parts
            if path.is_absolute() or ".." in parts:
                raise VendorError(f"{wheel.name} holds an unsafe path: {info.filename}")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: nothing the Worker imports
                parts = parts[2:]
            relative = "/".join(parts)
            if relative in owners:
                raise VendorError(f"{relative} is in both {owners[relative]} and {wheel.name}")
            owners[relative] = wheel.name
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))


def check_tree(dest: Path, wheels: list[Wheel]) -> None:
    """Refuse native code for another platform and requirements the vendored set does not meet."""
    for path in dest.rglob("*"):
        if path.is_file() and (path.suffix in SHARED_LIBRARY_SUFFIXES or ".so." in path.name):
            with path.open("rb") as file:
                if file.read(4) != WASM_MAGIC:
                    raise VendorError(
                        f"{path.relative_to(dest)} is not WebAssembly: a wrong-platform wheel got in"
                    )
    versions = {canonicalize_name(w.name): Version(w.version) for w in wheels}
    for metadata in sorted(dest.glob("*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8"))
        for line in headers.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(TARGET_ENV):
                continue
            have = versions.get(canonicalize_name(requirement.name))
            if have is None or not requirement.specifier.contains(have, prereleases=True):
                found = f"{have} is vendored" if have else "it is not vendored"
                raise VendorError(f"{metadata.parent.name} requires {line!r} on the target, but {found}")


def build(digest: str) -> str:
    """Rebuild python_modules/ from scratch; returns the status line."""
    started = time.monotonic()
    check_lock_is_current()
    wheels = [*locked_runtime_wheels(), WORKERS_SDK]
    fetched = [fetch(wheel) for wheel in wheels]
    staging = Path(tempfile.mkdtemp(prefix="python_modules-", dir=ROOT / ".tools"))
    try:
        owners: dict[str, str] = {}
        for path, _ in fetched:
            unpack(path, staging, owners)
        check_tree(staging, wheels)
        pins = sorted(f"{w.name}=={w.version}" for w in wheels)
        (staging / STAMP.name).write_text("\n".join([digest, *pins]) + "\n")
        if VENDOR_DIR.exists():
            shutil.rmtree(VENDOR_DIR)
        staging.rename(VENDOR_DIR)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in VENDOR_DIR.rglob("*") if p.is_file())
    downloaded = sum(1 for _, was_downloaded in fetched if was_downloaded)
    return (
        f"python_modules: vendored {len(wheels)} packages for CPython 3.14/{PLATFORM} "
        f"({size / 1e6:.1f} MB, {downloaded} downloaded) in {time.monotonic() - started:.1f}s"
    )


def ensure(force: bool = False) -> str:
    """Rebuild python_modules/ unless its stamp matches (or `force`); returns the status line."""
    digest = stamp_digest()
    stamp = read_stamp()
    if not force and bool(stamp) and stamp[0] == digest and VENDOR_DIR.is_dir():
        return f"python_modules: up to date ({len(stamp) - 1} packages)"
    return build(digest)


def is_current() -> bool:
    stamp = read_stamp()
    return bool(stamp) and stamp[0] == stamp_digest() and VENDOR_DIR.is_dir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 when stale")
    args = parser.parse_args()
    try:
        if args.check:
            if not is_current():
                print("python_modules: missing or stale; run python -m dev_runtime.python_modules", file=sys.stderr)
                return 1
            print("python_modules: up to date")
        else:
            print(ensure(args.force))
    except (VendorError, OSError) as exc:
        print(f"python_modules: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
