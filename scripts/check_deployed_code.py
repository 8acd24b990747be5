"""Static checks of the deployed code (src/) for what the Workers runtime forbids or lacks.

- no threads, sockets, subprocesses or blocking sleeps: none of them exist in workerd;
- no `random`/`uuid`/`secrets`/`os.urandom` calls at import time: workerd refuses entropy at
  global scope ("Disallowed operation called within global scope");
- no imports of the stand-in runtime or the tests.
Exits non-zero listing file:line for each finding.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

FORBIDDEN_MODULES = {"threading", "socket", "subprocess", "multiprocessing", "concurrent.futures",
                     "asyncio.subprocess", "_thread", "local", "tests"}
BLOCKING_CALLS = {"time.sleep"}
ENTROPY_PREFIXES = ("random.", "secrets.", "uuid.uuid1", "uuid.uuid4", "os.urandom")
ENTROPY_NAMES = {"uuid1", "uuid4", "urandom", "token_hex", "token_bytes", "token_urlsafe", "randint", "random",
                 "choice", "getrandbits", "randbytes", "shuffle", "uniform"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


class Checker(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path, self.findings, self.depth = path, [], 0
        self.entropy_imports: set[str] = set()  # names imported from random/secrets/uuid/os.urandom

    def report(self, node: ast.AST, message: str) -> None:
        self.findings.append(f"{self.path}:{node.lineno}: {message}")

    def _module(self, node: ast.AST, name: str) -> None:
        if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES):
            self.report(node, f"imports {name}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self._module(node, node.module)
            if node.module in ("random", "secrets", "uuid", "os"):
                self.entropy_imports |= {a.asname or a.name for a in node.names if a.name in ENTROPY_NAMES}

    def _function(self, node: ast.AST) -> None:
        # Decorators and defaults run at import time; only the body is deferred.
        for expr in [*getattr(node, "decorator_list", []), *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        self.depth += 1
        for child in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(child)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function  # noqa: N815

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        if name in BLOCKING_CALLS:
            self.report(node, f"calls {name} (blocks the isolate)")
        at_import = self.depth == 0
        if at_import and (name.startswith(ENTROPY_PREFIXES) or name in self.entropy_imports):
            self.report(node, f"calls {name} at import time (workerd forbids entropy at global scope)")
        self.generic_visit(node)


def check(root: Path) -> list[str]:
    findings = []
    for path in sorted(root.rglob("*.py")):
        checker = Checker(str(path.relative_to(root.parent)))
        checker.visit(ast.parse(path.read_text(), filename=str(path)))
        findings += checker.findings
    return findings


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "src"
    findings = check(root)
    if findings:
        print("\n".join(findings), file=sys.stderr)
        return 1
    print(f"deployed code ok: {sum(1 for _ in root.rglob('*.py'))} modules checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
