"""Bundle the Worker offline with `wrangler deploy --dry-run` and check what would ship.

Every `.py` under src/ must be in the bundle at its path relative to src/ (the main module at the
root), and nothing else of ours may be: no tests/, local/, client/, scripts/ or gpu_worker/.
Runs wrangler with the Node 22 that scripts/install_node_tools.sh put in node_modules/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEVER_SHIPPED = ("tests", "local", "client", "scripts", "gpu_worker", "docs", "node_modules", ".venv")


def main() -> int:
    wrangler = ROOT / "node_modules" / ".bin" / "wrangler"
    if not wrangler.exists():
        print("check_bundle: wrangler is not installed; run scripts/install_node_tools.sh", file=sys.stderr)
        return 2
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}",
           "WRANGLER_SEND_METRICS": "false", "CI": "true", "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run([str(wrangler), "deploy", "--dry-run", "--outdir", out], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            print(result.stdout[-3000:], result.stderr[-3000:], sep="\n", file=sys.stderr)
            print("check_bundle: wrangler deploy --dry-run failed", file=sys.stderr)
            return 1
        shipped = {p.relative_to(out).as_posix() for p in Path(out).rglob("*") if p.is_file()}
    expected = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src").rglob("*.py")
                if "__pycache__" not in p.parts}
    missing = sorted(expected - shipped)
    ours_elsewhere = {p.name for d in NEVER_SHIPPED if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*.py")}
    leaked = sorted(f for f in shipped if f.split("/")[0] in NEVER_SHIPPED
                    or (f.endswith(".py") and f not in expected and Path(f).name in ours_elsewhere))
    stray = sorted(f for f in shipped if f.endswith(".py") and f not in expected)
    problems = [f"missing from the bundle: {m}" for m in missing] + [f"must not ship: {f}" for f in leaked]
    problems += [f"unexpected module in the bundle: {f}" for f in stray if f not in leaked]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"bundle ok: {len(expected)} modules from src/, nothing from {', '.join(NEVER_SHIPPED[:5])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
