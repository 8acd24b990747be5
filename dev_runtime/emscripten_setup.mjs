// The development bundle's `pyodideRuntime-internal:emscriptenSetup` module.
//
// workerd's built-in Python loader imports this module and calls
//     instantiateEmscriptenModule(pythonStdlibZip: ArrayBuffer, pyodideAsmWasm: WebAssembly.Module)
// expecting the Emscripten `Module` back once the wasm is instantiated and the file system is
// ready, but *before* the C runtime starts: the loader still mounts the Worker's files and its
// Python packages, and then releases the run dependency "dynlibs" that holds `main()` back.
// The loader also calls `Module.setGetRandomValues(fn)` and `Module.setSetTimeout(...)`.
//
// esbuild bundles this file with the adapted npm `pyodide.asm.mjs` and `asm_hooks.mjs` into one
// ES module (see build_bundle.py). Everything here is written for this project; workerd's sources
// were read only to learn the interface above.

import createPyodideModule from './pyodide.asm.adapted.mjs';
import { setGetRandomValues } from './asm_hooks.mjs';

// Python reads these at start-up. There is no entropy at start-up (the loader refuses it), so
// hash randomisation is off, as in production.
const PYTHON_ENV = { HOME: '/session', PYTHONHASHSEED: '111' };

// Pyodide 314 imports two functions that its own JS loader (pyodide.mjs, not used here)
// normally supplies: one returns a unique "this call raised" marker, the other recognises it.
// A private Symbol is a marker nothing else can produce.
const JS_ERROR_MARKER = Symbol('pyodide js error marker');
const jsErrorImports = {
  Jsv_GetError_import: () => JS_ERROR_MARKER,
  JsvError_Check: (value) => (value === JS_ERROR_MARKER ? 1 : 0),
};

// The Python version of the wasm, read from CPython's `Py_Version` (0xMMmmpp..) once memory is
// initialised; it names the stdlib zip and site-packages.
function pythonVersion(Module) {
  const packed = Module.HEAPU32[Module._Py_Version >>> 2];
  return [(packed >>> 24) & 0xff, (packed >>> 16) & 0xff];
}

// preRun hook: the files `main()` needs. The stdlib is imported straight from its zip by
// zipimport, which works before anything else in the runtime does.
function prepareFileSystem(Module, pythonStdlibZip) {
  const [major, minor] = pythonVersion(Module);
  const FS = Module.FS;
  FS.sitePackages = `/lib/python${major}.${minor}/site-packages`;
  // The loader mounts the Worker's vendored packages here (`python_modules/`).
  FS.sessionSitePackages = `/session${FS.sitePackages}`;
  Module.LD_LIBRARY_PATH = ['/usr/lib', FS.sitePackages, '/session/metadata/python_modules/lib/'].join(':');
  FS.mkdirTree(FS.sitePackages);
  FS.writeFile(`/lib/python${major}${minor}.zip`, new Uint8Array(pythonStdlibZip), { canOwn: true });
  FS.mkdirTree(PYTHON_ENV.HOME);
  Object.assign(Module.ENV, PYTHON_ENV, { LD_LIBRARY_PATH: Module.LD_LIBRARY_PATH });
}

// Emscripten decides what kind of host it runs in from globals, before its first `await`.
// workerd looks like none it knows (and may have a `process` object with Node's version), so
// present the one whose code paths suit workerd, a browser main thread, for the duration of
// that synchronous decision only.
function asBrowserMainThread(start) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'process');
  globalThis.window = { sessionStorage: {} };
  globalThis.document = { createElement() {} };
  globalThis.process = undefined;
  try {
    return start();
  } finally {
    delete globalThis.window;
    delete globalThis.document;
    if (saved) {
      Object.defineProperty(globalThis, 'process', saved);
    } else {
      delete globalThis.process;
    }
  }
}

export async function instantiateEmscriptenModule(pythonStdlibZip, pyodideAsmWasm) {
  let ready, failed;
  const moduleReady = new Promise((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  const settings = {
    // Pyodide's own settings object; it is `Module.API` inside pyodide.asm.mjs.
    API: {
      config: {
        jsglobals: globalThis,
        env: PYTHON_ENV,
        lockFileURL: '',
        enableRunUntilComplete: true,
      },
      runtimeEnv: { IN_WORKERD: true, IN_BROWSER: true, IN_BROWSER_MAIN_THREAD: true },
    },
    // workerd hands over the compiled wasm; instantiate it with Emscripten's imports plus the two
    // that Pyodide's JS loader would have added.
    instantiateWasm(imports, onInstantiated) {
      Object.assign(imports.env, jsErrorImports);
      onInstantiated(new WebAssembly.Instance(pyodideAsmWasm, imports), pyodideAsmWasm);
      return {};
    },
    preRun: [
      (Module) => prepareFileSystem(Module, pythonStdlibZip),
      // Hold `main()` until the loader has mounted the Worker's files and released "dynlibs";
      // hand the module over now.
      (Module) => {
        Module.addRunDependency('dynlibs');
        ready(Module);
      },
    ],
  };
  asBrowserMainThread(() => {
    // This promise settles only after main() has run, which the loader triggers later.
    createPyodideModule(settings).catch(failed);
  });
  const Module = await moduleReady;
  Module.setGetRandomValues = setGetRandomValues;
  // Until the first request the loader points timers at a version that runs `setTimeout(f, 0)`
  // as a microtask (workerd refuses timers at the top level); then back to the real ones.
  Module.setSetTimeout = (setTimeoutFn, clearTimeoutFn, setIntervalFn, clearIntervalFn) => {
    Object.assign(globalThis, {
      setTimeout: setTimeoutFn,
      clearTimeout: clearTimeoutFn,
      setInterval: setIntervalFn,
      clearInterval: clearIntervalFn,
    });
  };
  return Module;
}
