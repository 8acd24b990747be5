"""Build the development Pyodide bundle that workerd loads offline: `pyodide_dev.capnp.bin`.

workerd runs Python Workers with a Pyodide bundle that it normally downloads. With the
compatibility flag `python_workers_development` it instead reads `pyodide_dev.capnp.bin` from the
folder given by `--pyodide-bundle-disk-cache-dir`, without an integrity check. That file is a
Cap'n Proto `Bundle` (see bundle.capnp) of three internal modules:

    pyodideRuntime-internal:emscriptenSetup    src   this folder's setup module, bundled by esbuild
                                                      with npm pyodide's pyodide.asm.mjs adapted
                                                      to workerd (ASM_ADAPTATIONS)
    pyodideRuntime-internal:pyodide.asm.wasm   wasm  npm pyodide's, as it is
    pyodideRuntime-internal:python_stdlib.zip  data  npm pyodide's, as it is

Inputs come from registry packages only (npm `pyodide` and `esbuild`, pinned in package.json;
PyPI `pycapnp`). The result is cached in `.tools/pyodide-bundle/` and rebuilt only when an input
changes (their hash is kept beside it).

Usage: python -m dev_runtime.build_bundle [--out DIR]   (prints the bundle's folder)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYODIDE = REPO / "node_modules" / "pyodide"
ESBUILD = REPO / "node_modules" / ".bin" / "esbuild"
DEFAULT_OUT = REPO / ".tools" / "pyodide-bundle"
BUNDLE_NAME = "pyodide_dev.capnp.bin"
SETUP_SOURCES = ("emscripten_setup.mjs", "asm_hooks.mjs")

# Each adaptation of pyodide.asm.mjs: (text, replacement, how many times it must occur, why).
# The count is exact so that a new pyodide release whose code moved fails the build loudly
# instead of producing a bundle that breaks at run time.
ASM_ADAPTATIONS: tuple[tuple[str, str, int, str], ...] = (
    ("new WebAssembly.Module(", "newWasmModule(", 4,
     "workerd compiles wasm from bytes only for internal modules (trampolines, shared libraries)"),
    ("WebAssembly.instantiate(", "wasmInstantiate(", 2, "same rule, asynchronous form"),
    ("Date.now()", "monotonicNow()", 22,
     "workerd's clock stands still during a request; Python's import caches need it to move"),
    ("crypto.getRandomValues(", "getRandomValues(Module,", 1,
     "entropy through the loader, which refuses it at import time as production does"),
    ("eval(func)", "refuseEval()", 2, "workerd has no eval (EM_ASM/EM_JS in shared libraries)"),
    ("eval(data)", "refuseEval()", 1, "no eval (loading a script in Node)"),
    ("eval(UTF8ToString(ptr))", "refuseEval()", 3, "no eval (emscripten_run_script*)"),
)
ASM_PRELUDE = (
    "import { newWasmModule, wasmInstantiate, monotonicNow, getRandomValues, refuseEval } "
    "from './asm_hooks.mjs';\n"
)


class BuildError(RuntimeError):
    pass


def adapt_asm(source: str) -> str:
    """npm pyodide's Emscripten module, rewritten to run inside workerd."""
    for text, replacement, expected, why in ASM_ADAPTATIONS:
        found = source.count(text)
        if found != expected:
            raise BuildError(f"pyodide.asm.mjs: expected {expected} of {text!r} ({why}), found {found}; "
                             "has the npm pyodide pin moved without this list?")
        source = source.replace(text, replacement)
    return ASM_PRELUDE + source


def bundle_setup_module(adapted_asm: str) -> bytes:
    """esbuild: the setup module, its hooks and the adapted asm as one ES module."""
    with tempfile.TemporaryDirectory(prefix="pyodide-setup-") as tmp:
        work = Path(tmp)
        (work / "pyodide.asm.adapted.mjs").write_text(adapted_asm)
        for name in SETUP_SOURCES:
            (work / name).write_bytes((HERE / name).read_bytes())
        out = work / "emscriptenSetup.js"
        cmd = [str(ESBUILD), str(work / "emscripten_setup.mjs"), "--bundle", "--format=esm",
               "--platform=neutral", "--target=esnext", "--log-level=warning",
               # Resolved by workerd at run time, or only reached on hosts other than workerd.
               "--external:internal:*", "--external:node:*", "--external:ws",
               f"--outfile={out}"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(f"esbuild failed:\n{result.stderr}")
        return out.read_bytes()


def encode_bundle(setup_js: bytes, wasm: bytes, stdlib_zip: bytes) -> bytes:
    """The Cap'n Proto message workerd parses as its `jsg::Bundle`."""
    import capnp  # dev dependency; imported here so --help works without it

    capnp.remove_import_hook()
    schema = capnp.load(str(HERE / "bundle.capnp"))
    bundle = schema.Bundle.new_message()
    modules = bundle.init("modules", 3)
    for slot, (name, kind, payload) in enumerate((
        ("pyodideRuntime-internal:emscriptenSetup", "src", setup_js),
        ("pyodideRuntime-internal:pyodide.asm.wasm", "wasm", wasm),
        ("pyodideRuntime-internal:python_stdlib.zip", "data", stdlib_zip),
    )):
        module = modules[slot]
        module.name = name
        module.type = "internal"
        setattr(module, kind, payload)
    return bundle.to_bytes()


def input_digest() -> str:
    """Hash of everything the bundle is made from; a change in any of them means a rebuild."""
    digest = hashlib.sha256()
    files = [PYODIDE / "package.json", PYODIDE / "pyodide.asm.mjs", PYODIDE / "pyodide.asm.wasm",
             PYODIDE / "python_stdlib.zip", REPO / "node_modules" / "esbuild" / "package.json",
             HERE / "bundle.capnp", Path(__file__).resolve(), *(HERE / n for n in SETUP_SOURCES)]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def pyodide_version() -> str:
    return json.loads((PYODIDE / "package.json").read_text())["version"]


def build(out_dir: Path) -> tuple[Path, bool]:
    """Build into `out_dir` unless it already holds the bundle of these inputs. → (path, built)."""
    for needed in (PYODIDE / "pyodide.asm.mjs", ESBUILD):
        if not needed.exists():
            raise BuildError(f"{needed} is missing: run scripts/install_node_tools.sh first")
    target, stamp = out_dir / BUNDLE_NAME, out_dir / "inputs.sha256"
    digest = input_digest()
    if target.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return target, False
    setup_js = bundle_setup_module(adapt_asm((PYODIDE / "pyodide.asm.mjs").read_text()))
    data = encode_bundle(setup_js, (PYODIDE / "pyodide.asm.wasm").read_bytes(),
                         (PYODIDE / "python_stdlib.zip").read_bytes())
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, target)  # never leave a half-written bundle under the real name
    stamp.write_text(digest + "\n")
    return target, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bundle folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        target, built = build(args.out)
    except BuildError as exc:
        print(f"build_bundle: {exc}", file=sys.stderr)
        return 1
    state = "built" if built else "up to date"
    print(f"pyodide dev bundle: {target} (pyodide {pyodide_version()}, "
          f"{target.stat().st_size / 1e6:.1f} MB, {state})", file=sys.stderr)
    print(target.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
