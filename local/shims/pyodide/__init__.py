"""Stand-in `pyodide` package (local runtime only)."""

__version__ = "0.28.0-local"
