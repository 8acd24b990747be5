"""The static checks that stand in for the real runtime's refusals catch what they should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from check_deployed_code import check  # noqa: E402


def findings(tmp_path: Path, source: str) -> list[str]:
    pkg = tmp_path / "src"
    pkg.mkdir(exist_ok=True)
    (pkg / "mod.py").write_text(source)
    return check(pkg)


@pytest.mark.parametrize("source", [
    "import threading\n",
    "import socket\n",
    "from subprocess import run\n",
    "import concurrent.futures\n",
    "from multiprocessing import Pool\n",
    "import time\ndef f():\n    time.sleep(1)\n",
    "import random\nX = random.random()\n",
    "import uuid\nID = uuid.uuid4()\n",
    "import secrets\nclass A:\n    key = secrets.token_hex(8)\n",
    "from uuid import uuid4\ndef f(x=uuid4()):\n    return x\n",
    "import random\n@functools.lru_cache(random.randint(1, 2))\ndef f():\n    pass\n",
    "import os\nSEED = os.urandom(8)\n",
    "from local.runtime import LocalRuntime\n",
    "from tests.conftest import SECRETS\n",
])
def test_forbidden_patterns_are_reported(tmp_path, source):
    assert findings(tmp_path, source), source


@pytest.mark.parametrize("source", [
    "import random\ndef f():\n    return random.random()\n",
    "import uuid\nasync def f():\n    return uuid.uuid4().hex\n",
    "import asyncio\nasync def f():\n    await asyncio.sleep(1)\n",
    "import hmac, hashlib\nDIGEST = hashlib.sha256(b'x').hexdigest()\n",
    "F = lambda: __import__('random').random()\n",
])
def test_clean_code_passes(tmp_path, source):
    assert findings(tmp_path, source) == []


def test_the_real_source_tree_is_clean():
    assert check(ROOT / "src") == []


def test_bundle_check():
    if not (ROOT / "node_modules" / ".bin" / "wrangler").exists() and not os.environ.get("CI"):
        pytest.skip("node tools not installed (scripts/install_node_tools.sh); CI always runs this")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_bundle.py")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "bundle ok" in result.stdout
