// What the adapted pyodide.asm.mjs calls instead of the browser APIs that workerd refuses.
//
// `build_bundle.py` rewrites a handful of call sites in npm pyodide's Emscripten module (see
// ASM_ADAPTATIONS there) to call these functions, and prepends an import of this file. Each
// function says which workerd rule it works around.

import UnsafeEval from 'internal:unsafe-eval';

// workerd disallows compiling WebAssembly from bytes (`new WebAssembly.Module(bytes)`,
// `WebAssembly.instantiate(bytes)`) outside of its own internal modules. This setup module *is*
// an internal module, so it may use `internal:unsafe-eval`. Emscripten compiles small wasm
// modules at run time (function-pointer trampolines, feature tests) and every shared library
// (e.g. pydantic-core's extension module) it loads. Production's loader also checks *who* asks
// (only Emscripten's own call sites may compile wasm); this development bundle runs only the
// project's own code on a developer's machine and does not.
export function newWasmModule(bytes) {
  return UnsafeEval.newWasmModule(bytes);
}

// `WebAssembly.instantiate` takes either bytes or a compiled module; both forms are served
// synchronously (instantiation itself is allowed) and wrapped in a promise to keep its shape.
export function wasmInstantiate(moduleOrBytes, imports) {
  const module =
    moduleOrBytes instanceof WebAssembly.Module ? moduleOrBytes : newWasmModule(moduleOrBytes);
  const instance = new WebAssembly.Instance(module, imports);
  return Promise.resolve({ module, instance });
}

// workerd freezes `Date.now()` while a script runs (a timing side-channel defence). Python's
// import system notices new files by a directory's modification time, so a clock that does not
// move hides files written in the same request. Every read advances by at least 1 ms.
let lastNow = 0;
export function monotonicNow() {
  lastNow = Math.max(Date.now(), lastNow + 1);
  return lastNow;
}

// Entropy goes through the Python loader, which refuses it while the Worker's top level runs
// (the same "no randomness at import time" rule as production) and allows it inside requests.
// The loader installs its function with `Module.setGetRandomValues`.
let loaderGetRandomValues = null;
export function setGetRandomValues(fn) {
  loaderGetRandomValues = fn;
}
export function getRandomValues(Module, array) {
  if (loaderGetRandomValues === null) {
    throw new Error('getRandomValues called before the Python loader installed its entropy source');
  }
  return loaderGetRandomValues(Module, array);
}

// Emscripten can evaluate JavaScript source handed over by C code (EM_ASM in shared libraries,
// `emscripten_run_script`). workerd has no `eval`; fail loudly rather than silently.
export function refuseEval() {
  throw new Error('Emscripten tried to evaluate JavaScript source; workerd does not allow eval');
}
