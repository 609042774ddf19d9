"""The shape of the code: the runtime package has no import circle and never needs the eval
or bench code beside it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "assistant"
TOOLS = ("evals", "benchmarks")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Dotted names ``path`` imports; at module level only (not under TYPE_CHECKING, not in
    functions) when ``top_level_only``, since those are the imports that can form a circle."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _runtime_modules() -> dict[str, Path]:
    return {_module(p): p for p in PACKAGE.rglob("*.py")}


def test_the_import_walk_sees_absolute_and_relative_imports(tmp_path: Path) -> None:
    # Guard against a walk that finds nothing and so passes every check below.
    graph = {m: _imports(p, top_level_only=True) for m, p in _runtime_modules().items()}
    assert "assistant.schema" in graph["assistant.answering.pipeline"]
    assert sum(len(v) for v in graph.values()) > 100


def test_no_import_circle_among_runtime_modules() -> None:
    modules = _runtime_modules()
    graph = {
        m: {i for i in _imports(p, top_level_only=True) if i in modules and i != m}
        for m, p in modules.items()
    }

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph[node]:
            assert nxt not in path, " -> ".join([*path, nxt])
            visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])


def test_runtime_modules_do_not_import_eval_or_bench_code() -> None:
    # Only the CLI's `eval` and `bench` commands reach into them, inside the command.
    offenders = {
        m: sorted(
            i
            for i in _imports(p, top_level_only=m == "assistant.surfaces.cli")
            if i.split(".")[0] in TOOLS
        )
        for m, p in _runtime_modules().items()
    }
    assert {m: i for m, i in offenders.items() if i} == {}


def test_the_ask_command_path_loads_no_eval_or_bench_module() -> None:
    code = (
        "import sys\n"
        "import assistant, assistant.surfaces.cli, assistant.answering.pipeline\n"
        "import assistant.surfaces.ui, assistant.surfaces.bots.slack, assistant.surfaces.http\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {TOOLS!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_evals_and_benchmarks_build_only_on_the_runtime_package() -> None:
    # The tools beside the product use its public modules; the product never uses them.
    for tool in TOOLS:
        used = set()
        for path in (ROOT / tool).rglob("*.py"):
            used |= {i.split(".")[0] for i in _imports(path, top_level_only=False)}
        assert "assistant" in used
