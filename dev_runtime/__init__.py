"""The development runtime: the Worker served by `wrangler dev` on workerd + Pyodide, offline.

Never deployed. `build_bundle.py` builds the development Pyodide bundle, `python_modules.py`
vendors the Worker's packages for Pyodide, `wrangler_dev.py` runs `wrangler dev` with both, and
`python -m dev_runtime` is what `scripts/dev` serves.
"""
