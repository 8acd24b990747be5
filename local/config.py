"""Configuration of the stand-in runtime: `wrangler.toml`, `.dev.vars`, and the environment.

Precedence, lowest first: `[vars]` in wrangler.toml, names listed in `.dev.vars.example`
(empty), `.dev.vars`, then any environment variable with the same name as one of those.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WorkerConfig:
    root: Path
    name: str
    main: Path
    vars: dict[str, str]
    r2_buckets: dict[str, str]  # binding → bucket name
    durable_objects: dict[str, str]  # binding → class name
    assets_dir: Path | None
    run_worker_first: list[str] = field(default_factory=list)
    required_secrets: list[str] = field(default_factory=list)

    def missing_secrets(self) -> list[str]:
        """Required secrets (from .dev.vars.example) that have no value: named at startup."""
        return [name for name in self.required_secrets if not self.vars.get(name)]


def required_names(example: str) -> list[str]:
    """Names in `.dev.vars.example` before a `# optional` comment line."""
    names = []
    for line in example.splitlines():
        if line.strip().lower().startswith("# optional"):
            break
        if "=" in line and not line.lstrip().startswith("#"):
            names.append(line.split("=", 1)[0].strip())
    return names


def parse_dev_vars(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines, `#` comments, optional single or double quotes around the value."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load(root: Path, environ: dict[str, str] | None = None) -> WorkerConfig:
    environ = dict(os.environ if environ is None else environ)
    data = tomllib.loads((root / "wrangler.toml").read_text())
    values = {k: str(v) for k, v in data.get("vars", {}).items()}
    for name in ".dev.vars.example", ".dev.vars":
        path = root / name
        if path.exists():
            parsed = parse_dev_vars(path.read_text())
            if name == ".dev.vars.example":
                parsed = {k: values.get(k, "") for k in parsed}
            values.update(parsed)
    for key in list(values):
        if key in environ:
            values[key] = environ[key]
    example = root / ".dev.vars.example"
    required = required_names(example.read_text()) if example.exists() else []
    assets = data.get("assets") or {}
    rwf = assets.get("run_worker_first", [])
    return WorkerConfig(
        root=root,
        name=data["name"],
        main=root / data["main"],
        vars=values,
        r2_buckets={b["binding"]: b["bucket_name"] for b in data.get("r2_buckets", [])},
        durable_objects={b["name"]: b["class_name"] for b in data.get("durable_objects", {}).get("bindings", [])},
        assets_dir=(root / assets["directory"]) if assets.get("directory") else None,
        run_worker_first=rwf if isinstance(rwf, list) else (["/*"] if rwf else []),
        required_secrets=required,
    )
