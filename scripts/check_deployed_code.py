"""Static checks of the deployed code (src/) for what the Workers runtime forbids or lacks.

- no threads, sockets or subprocesses: workerd has none of them (imports of threading, _thread,
  socket, socketserver, subprocess, multiprocessing, concurrent.futures, asyncio.subprocess; calls
  of asyncio.create_subprocess_*, os.system, os.popen, os.fork);
- no blocking sleeps: `time.sleep` stalls the whole isolate (use `await asyncio.sleep`);
- no entropy at import time: workerd raises "Disallowed operation called within global scope" for
  `random.*`, `secrets.*`, `uuid.uuid1/uuid4`, `os.urandom` outside a request. Such calls may only
  run inside a function body (def, async def, lambda); at module level, in a class body, in a
  default argument value or in a decorator they run at import. A module-level call of a function of
  the same module that (directly or through other functions of that module) makes such a call is
  reported too;
- no imports of the development runtime (`dev_runtime`) or of the tests (`tests`).

Aliases are followed (`import random as r`, `from time import sleep`, `from os import urandom`).
Exits non-zero listing file:line for each finding.

Usage: check_deployed_code.py [DIR ...]   (default: src/)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_MODULES = {
    "threading": "threads cannot start in workerd",
    "_thread": "threads cannot start in workerd",
    "multiprocessing": "there are no processes in workerd",
    "concurrent.futures": "its executors start threads or processes",
    "subprocess": "there are no processes in workerd",
    "asyncio.subprocess": "there are no processes in workerd",
    "socket": "sockets do not work in workerd (use workers.fetch)",
    "socketserver": "sockets do not work in workerd",
    "dev_runtime": "the development runtime is never deployed",
    "tests": "the tests are never deployed",
}
FORBIDDEN_CALLS = {
    "time.sleep": "blocks the isolate (use await asyncio.sleep)",
    "asyncio.create_subprocess_exec": "there are no processes in workerd",
    "asyncio.create_subprocess_shell": "there are no processes in workerd",
    "os.system": "there are no processes in workerd",
    "os.popen": "there are no processes in workerd",
    "os.fork": "there are no processes in workerd",
}
ENTROPY_MODULES = ("random", "secrets")  # every function of these draws entropy (random.Random() seeds itself)
ENTROPY_CALLS = {"uuid.uuid1", "uuid.uuid4", "os.urandom", "os.getrandom"}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_entropy(name: str) -> bool:
    return name in ENTROPY_CALLS or name.split(".")[0] in ENTROPY_MODULES and "." in name


def _module_matches(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def _runs_with(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The nodes evaluated when fn is called: its body, without the bodies of functions it defines."""
    nodes: list[ast.AST] = []
    pending: list[ast.AST] = list(fn.body)
    while pending:
        node = pending.pop()
        nodes.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            pending += [*getattr(node, "decorator_list", []), *node.args.defaults,
                        *(d for d in node.args.kw_defaults if d is not None)]
        else:
            pending += list(ast.iter_child_nodes(node))
    return nodes


class _Aliases(ast.NodeVisitor):
    """Local names bound by imports anywhere in the file -> the dotted name they stand for."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.names[alias.asname] = alias.name
            # `import os.path` binds `os`, which already stands for itself.

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            for alias in node.names:
                self.names[alias.asname or alias.name] = f"{node.module}.{alias.name}"


class Checker(ast.NodeVisitor):
    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.findings: list[tuple[int, str]] = []
        self.depth = 0  # > 0 inside a function body: runs at call time, not at import
        aliases = _Aliases()
        aliases.visit(tree)
        self.aliases = aliases.names
        self.entropy_functions = self._entropy_functions(tree)

    def resolve(self, func: ast.AST) -> str | None:
        name = _dotted(func)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.aliases:
            return f"{self.aliases[head]}.{rest}" if rest else self.aliases[head]
        return name

    def _entropy_functions(self, tree: ast.Module) -> dict[str, str]:
        """Module-level functions whose body draws entropy, directly or through each other."""
        bodies = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        calls: dict[str, set[str]] = {}
        found: dict[str, str] = {}
        for name, fn in bodies.items():
            calls[name] = set()
            for node in _runs_with(fn):
                if isinstance(node, ast.Call):
                    target = self.resolve(node.func)
                    if target and _is_entropy(target):
                        found.setdefault(name, target)
                    elif target in bodies:
                        calls[name].add(target)
        changed = True
        while changed:
            changed = False
            for name, callees in calls.items():
                hit = next((c for c in sorted(callees) if c in found), None)
                if name not in found and hit:
                    found[name] = f"{hit}() -> {found[hit]}"
                    changed = True
        return found

    def report(self, node: ast.AST, message: str) -> None:
        self.findings.append((node.lineno, message))

    def _check_module(self, node: ast.AST, name: str) -> None:
        for module, why in FORBIDDEN_MODULES.items():
            if _module_matches(name, module):
                self.report(node, f"imports {name}: {why}")
                return

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.module or node.level:
            return
        before = len(self.findings)
        self._check_module(node, node.module)
        if len(self.findings) == before:  # `from concurrent import futures`, `from asyncio import subprocess`
            for alias in node.names:
                self._check_module(node, f"{node.module}.{alias.name}")

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        # Decorators, default values and (without `from __future__ import annotations`) annotations
        # are evaluated where the function is defined; only the body waits for a call.
        for expr in [*getattr(node, "decorator_list", []), *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        self.depth += 1
        for child in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(child)
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.resolve(node.func)
        if name in FORBIDDEN_CALLS:
            self.report(node, f"calls {name}: {FORBIDDEN_CALLS[name]}")
        if self.depth == 0 and name:
            if _is_entropy(name):
                self.report(node, f"calls {name} at import time: workerd forbids entropy at global scope")
            elif name in self.entropy_functions:
                self.report(node, f"calls {name}() at import time, which calls {self.entropy_functions[name]}:"
                                  " workerd forbids entropy at global scope")
        self.generic_visit(node)


def check_file(path: Path, shown_as: str) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        return [f"{shown_as}:{exc.lineno}: does not parse: {exc.msg}"]
    checker = Checker(shown_as, tree)
    checker.visit(tree)
    return [f"{shown_as}:{line}: {message}" for line, message in sorted(checker.findings)]


def check(root: Path) -> list[str]:
    """Findings for every .py under root, shown relative to root's parent (src/app/x.py:12: ...)."""
    findings = []
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            findings += check_file(path, path.relative_to(root.parent).as_posix())
    return findings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    roots = [Path(a) for a in argv] or [ROOT / "src"]
    findings = [f for root in roots for f in check(root.resolve())]
    if findings:
        print("\n".join(findings), file=sys.stderr)
        print(f"check_deployed_code: {len(findings)} problem(s) in deployed code", file=sys.stderr)
        return 1
    count = sum(1 for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    print(f"deployed code ok: {count} modules checked (no threads, sockets, processes, blocking sleeps,"
          " import-time entropy, or imports of dev_runtime/tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
