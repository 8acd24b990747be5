"""The deploy checks catch what they should: the static check of deployed code, the bundle comparison,
and the real offline `wrangler deploy --dry-run` (scripts/check_bundle.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_deployed_code = _load("check_deployed_code")
check_bundle = _load("check_bundle")


def findings(tmp_path: Path, source: str) -> list[str]:
    pkg = tmp_path / "src"
    pkg.mkdir(exist_ok=True)
    (pkg / "mod.py").write_text(source)
    return check_deployed_code.check(pkg)


# --- check_deployed_code.py -------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    # threads, processes, sockets
    "import threading\n",
    "import _thread\n",
    "import socket\n",
    "from socket import create_connection\n",
    "import subprocess\n",
    "from subprocess import run\n",
    "import multiprocessing.pool\n",
    "from multiprocessing import Pool\n",
    "import concurrent.futures\n",
    "from concurrent.futures import ThreadPoolExecutor\n",
    "from concurrent import futures\n",
    "import asyncio.subprocess\n",
    "from asyncio import subprocess\n",
    "from asyncio.subprocess import PIPE\n",
    "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec('ls')\n",
    "import os\ndef f():\n    os.system('ls')\n",
    # blocking sleep, anywhere
    "import time\ndef f():\n    time.sleep(1)\n",
    "import time\nasync def f():\n    time.sleep(1)\n",
    "from time import sleep\ndef f():\n    sleep(1)\n",
    "import time as t\ndef f():\n    t.sleep(1)\n",
    # entropy at import time: module level, class body, defaults, decorators, comprehensions
    "import random\nX = random.random()\n",
    "import random\nR = random.Random()\n",
    "import random as rnd\nX = rnd.randint(1, 6)\n",
    "from random import choice\nX = choice('abc')\n",
    "import uuid\nID = uuid.uuid4()\n",
    "import uuid\nNODE = uuid.uuid1()\n",
    "from uuid import uuid4 as new_id\nID = new_id()\n",
    "import secrets\nclass A:\n    key = secrets.token_hex(8)\n",
    "from secrets import token_bytes\nKEY = token_bytes(16)\n",
    "import os\nSEED = os.urandom(8)\n",
    "from os import urandom\nSEED = urandom(8)\n",
    "from uuid import uuid4\ndef f(x=uuid4()):\n    return x\n",
    "import uuid\nasync def f(*, x=uuid.uuid4()):\n    return x\n",
    "import uuid\nF = lambda x=uuid.uuid4(): x\n",
    "import random\nimport functools\n@functools.lru_cache(random.randint(1, 2))\ndef f():\n    pass\n",
    "import random\nclass A:\n    @staticmethod\n    def f(x=random.random()):\n        return x\n",
    "import random\nXS = [random.random() for _ in range(3)]\n",
    "import uuid\nif True:\n    ID = uuid.uuid4()\n",
    # entropy reached through a function of the same module called at import
    "import uuid\ndef new_id():\n    return uuid.uuid4().hex\nID = new_id()\n",
    "import secrets\ndef a():\n    return secrets.token_hex(4)\ndef b():\n    return a()\nKEY = b()\n",
    "import random\ndef pick():\n    return random.random()\nclass A:\n    x = pick()\n",
    # the development runtime and the tests never ship
    "import dev_runtime\n",
    "from dev_runtime.node_tools import find_node\n",
    "import tests.conftest\n",
    "from tests.conftest import SECRETS\n",
])
def test_forbidden_patterns_are_reported(tmp_path, source):
    found = findings(tmp_path, source)
    assert found, source
    assert all(f.startswith("src/mod.py:") for f in found), found


@pytest.mark.parametrize("source", [
    "import random\ndef f():\n    return random.random()\n",
    "import uuid\nasync def f():\n    return uuid.uuid4().hex\n",
    "import secrets\nclass A:\n    def key(self):\n        return secrets.token_hex(8)\n",
    "import os\ndef f():\n    return os.urandom(8)\n",
    "import asyncio\nasync def f():\n    await asyncio.sleep(1)\n",
    "import time\nSTART = time.time()\ndef f():\n    return time.monotonic()\n",
    "import hashlib\nDIGEST = hashlib.sha256(b'x').hexdigest()\n",
    "import uuid\nNS = uuid.UUID('12345678123456781234567812345678')\nX = uuid.uuid5(NS, 'a')\n",
    "F = lambda: __import__('random').random()\n",
    "import random\nF = lambda: random.random()\n",
    "import uuid\ndef outer():\n    def inner(x=uuid.uuid4()):\n        return x\n    return inner\n",
    # defining (not calling) a function that would draw entropy, at import time
    "import uuid\ndef make():\n    def new():\n        return uuid.uuid4()\n    return new\nNEW = make()\n",
    "from dataclasses import dataclass, field\nimport uuid\n@dataclass\nclass A:\n"
    "    id: str = field(default_factory=lambda: uuid.uuid4().hex)\n",
    "from . import dev_runtime\nfrom .tests import x\n",
    "import dev_runtimes\nimport testsuite\n",
])
def test_clean_code_passes(tmp_path, source):
    assert findings(tmp_path, source) == []


def test_findings_name_file_and_line(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "a.py").write_text("import json\n\nimport uuid\nID = uuid.uuid4()\n")
    assert check_deployed_code.check(tmp_path / "src") == [
        "src/pkg/a.py:4: calls uuid.uuid4 at import time: workerd forbids entropy at global scope"]


def test_main_exit_codes(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.py").write_text("import json\n")
    assert check_deployed_code.main([str(src)]) == 0
    (src / "bad.py").write_text("import threading\n")
    assert check_deployed_code.main([str(src)]) == 1
    assert "src/bad.py:1: imports threading" in capsys.readouterr().err


def test_the_real_source_tree_is_clean():
    assert check_deployed_code.check(ROOT / "src") == []


# --- check_bundle.py: the comparison of a dry-run output with the project --------------------------

def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for rel, text in {"src/entry.py": "from app import app\n", "src/app/__init__.py": "",
                      "src/app/routes.py": "X = 1\n", "src/app/schema.sql": "select 1;\n",
                      "tests/test_app.py": "def test_x():\n    pass\n", "dev_runtime/runtime.py": "RUNTIME = 1\n",
                      "scripts/helper.py": "HELPER = 1\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _bundle_of(root: Path, tmp_path: Path) -> Path:
    """What wrangler writes for this project: src/ at the root plus its README.md."""
    out = tmp_path / "out"
    shutil.copytree(root / "src", out)
    (out / "README.md").write_text("This folder contains the built output assets for the worker \"x\" generated at now.")
    return out


def test_bundle_that_mirrors_src_passes(tmp_path):
    root = _project(tmp_path)
    problems, counts = check_bundle.inspect_bundle(_bundle_of(root, tmp_path), root)
    assert problems == []
    assert counts == {"modules": 3, "text": 1, "vendored": 0}


def test_bundle_missing_a_module_fails(tmp_path):
    root = _project(tmp_path)
    out = _bundle_of(root, tmp_path)
    (out / "app" / "routes.py").unlink()
    problems, _ = check_bundle.inspect_bundle(out, root)
    assert problems == ["missing from the bundle: src/app/routes.py"]


@pytest.mark.parametrize(("rel", "source", "expected"), [
    ("tests/test_app.py", "tests/test_app.py", "top-level tests/"),
    ("dev_runtime/runtime.py", "dev_runtime/runtime.py", "top-level dev_runtime/"),
    ("runtime.py", "dev_runtime/runtime.py", "same content as dev_runtime/runtime.py"),
    ("helper.py", None, "same name as scripts/helper.py"),
    ("app/routes.py", "scripts/helper.py", "differs from src/app/routes.py"),
    ("notes.md", None, "is not a file under src/"),
    ("python_modules/fastapi/__init__.py", None, "python_modules/fastapi/__init__.py is not a copy"),
])
def test_bundle_with_a_file_from_outside_src_fails(tmp_path, rel, source, expected):
    root = _project(tmp_path)
    out = _bundle_of(root, tmp_path)
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_text((root / source).read_text() if source else "something else\n")
    problems, _ = check_bundle.inspect_bundle(out, root)
    assert len(problems) == 1 and expected in problems[0], problems


def test_bundle_may_hold_the_projects_vendored_packages(tmp_path):
    root = _project(tmp_path)
    (root / "python_modules" / "jwt").mkdir(parents=True)
    (root / "python_modules" / "jwt" / "__init__.py").write_text("JWT = 1\n")
    out = _bundle_of(root, tmp_path)
    shutil.copytree(root / "python_modules", out / "python_modules")
    problems, counts = check_bundle.inspect_bundle(out, root)
    assert problems == [] and counts["vendored"] == 1


def test_main_module_must_bind_the_durable_object_classes(tmp_path):
    main = tmp_path / "entry.py"
    main.write_text("from workers import WorkerEntrypoint\nfrom durable_objects.a import A\n"
                    "class Default(WorkerEntrypoint):\n    pass\n")
    config = {"durable_objects": {"bindings": [{"name": "X", "class_name": "A"}, {"name": "Y", "class_name": "B"},
                                               {"name": "Z", "class_name": "C", "script_name": "other"}]}}
    assert check_bundle.check_main_exports(main, config) == [
        "entry.py does not define or import B at module level (the runtime looks it up there)"]


def test_docs_assets_must_be_in_the_assets_folder(tmp_path):
    root = _project(tmp_path)
    [problem] = check_bundle.check_docs_assets(root)
    assert "public/vendor/swagger-ui/ lacks swagger-ui-bundle.js" in problem and "dev_runtime.prepare" in problem
    vendor = root / "public" / "vendor" / "swagger-ui"
    vendor.mkdir(parents=True)
    for name in check_bundle.SWAGGER_UI_FILES:
        (vendor / name).write_text("x")
    assert check_bundle.check_docs_assets(root) == []


# --- the real offline dry-run ---------------------------------------------------------------------

def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def test_offline_dry_run_bundle():
    """scripts/check_bundle.py against the real wrangler. Skipped only on a machine without node_modules
    that is not CI; under CI it runs, and missing tools fail it."""
    if not (ROOT / "node_modules").is_dir() and not _ci():
        pytest.skip("node tools not installed (scripts/install_node_tools.sh); CI always runs this")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_bundle.py")], capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bundle ok" in result.stdout
