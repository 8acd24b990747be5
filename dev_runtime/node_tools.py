"""Where the Node tools that scripts/install_node_tools.sh installs are, and how to run them offline."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WRANGLER_JS = REPO / "node_modules" / "wrangler" / "bin" / "wrangler.js"

# Keep wrangler off the network: no telemetry, no error reports, and no banner (the banner is what
# asks the registry whether a newer wrangler exists). CI=true keeps it from prompting.
WRANGLER_ENV = {
    "WRANGLER_SEND_METRICS": "false",
    "WRANGLER_SEND_ERROR_REPORTS": "false",
    "WRANGLER_HIDE_BANNER": "true",
    "WRANGLER_NO_SKILLS_UPDATE_PROMPTS": "true",
    "DO_NOT_TRACK": "1",
    "CI": "true",
    "NO_COLOR": "1",
    "FORCE_COLOR": "0",
}

# workerd's npm platform packages, by (system, machine).
_WORKERD_PACKAGES = {
    ("Linux", "x86_64"): "workerd-linux-64",
    ("Linux", "aarch64"): "workerd-linux-arm64",
    ("Darwin", "x86_64"): "workerd-darwin-64",
    ("Darwin", "arm64"): "workerd-darwin-arm64",
}


def find_node(root: Path = REPO) -> str | None:
    """The Node >= 22 that runs wrangler: node_modules' own, else one on PATH."""
    for candidate in (root / "node_modules" / ".bin" / "node", shutil.which("node")):
        if not candidate or not Path(candidate).is_file():
            continue
        try:
            major = subprocess.run([str(candidate), "-p", "process.versions.node.split('.')[0]"],
                                   capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            continue
        if major.isdigit() and int(major) >= 22:
            return str(candidate)
    return None


def workerd_binary(root: Path = REPO) -> Path:
    """The workerd that wrangler's pinned version installed for this platform."""
    package = _WORKERD_PACKAGES.get((platform.system(), platform.machine()))
    path = root / "node_modules" / "@cloudflare" / str(package) / "bin" / "workerd"
    if package is None or not path.exists():
        raise RuntimeError(f"no workerd binary for {platform.system()} {platform.machine()} in node_modules "
                           "(run scripts/install_node_tools.sh)")
    return path
