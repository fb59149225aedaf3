"""The architecture's rules, checked on the source: no import loops, no private names
across modules, no branching on a scenario's name outside scenarios/, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "harness"
SCENARIO_NAMES = {"speed", "quality", "reliability", "parity", "determinism", "soak"}


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """Every harness module `path` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in known:
                    out.add(sub)
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(p, m, known) for m, p in known.items()}


def test_no_import_loops():
    g = graph()
    state: dict[str, int] = {}
    loops: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(g[m]):
            if state.get(n) == 1:
                loops.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert not loops, "import loops: " + "; ".join(" -> ".join(x) for x in loops)


def test_graph_sees_imports():
    """The checker itself: it finds the edges it is meant to judge."""
    g = graph()
    assert "harness.engine.session" in g["harness.api.core"]
    assert "harness.records.record" in g["harness.records.flat"]


def test_no_private_names_across_modules():
    bad = []
    for root in (PKG, ROOT / "tests", ROOT / "benchmarks"):
        for p in root.rglob("*.py"):
            tree = ast.parse(p.read_text(encoding="utf-8"))
            harness_aliases = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
                    for a in node.names:
                        if a.name.startswith("_") and not a.name.startswith("__"):
                            bad.append(f"{p.relative_to(ROOT)}:{node.lineno} imports {a.name}")
                        harness_aliases.add(a.asname or a.name)
                elif isinstance(node, ast.Import):
                    harness_aliases |= {(a.asname or a.name).split(".")[0] for a in node.names
                                        if a.name.startswith("harness")}
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in harness_aliases and node.attr.startswith("_")
                        and not node.attr.startswith("__")):
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno} uses "
                               f"{node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)


def _names_a_scenario(node: ast.AST) -> bool:
    """task["name"], record["task"]["name"], job.scenario, x.task_name, ..."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value in ("name", "scenario")
    if isinstance(node, ast.Attribute):
        return node.attr in ("scenario", "task_name")
    return False


def test_no_scenario_name_branches_outside_scenarios():
    bad = []
    for p in PKG.rglob("*.py"):
        if "scenarios" in p.parts:
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if (any(isinstance(s, ast.Constant) and s.value in SCENARIO_NAMES for s in sides)
                        and any(_names_a_scenario(s) for s in sides)):
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "startswith" and _names_a_scenario(node.func.value)):
                bad.append(f"{p.relative_to(ROOT)}:{node.lineno} (startswith)")
    assert not bad, "scenario-name branches outside scenarios/: " + ", ".join(bad)


def test_modules_stay_small():
    big = {m: n for m, p in modules().items()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not big, big


def imports_of_test_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of a test_* module in `source`."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module] if node.module else [a.name for a in node.names]
        else:
            continue
        out += [(node.lineno, n) for n in names
                if any(part.startswith("test_") for part in n.split("."))]
    return out


def test_tests_do_not_import_other_test_files():
    """Shared test code lives in tests/helpers.py (or conftest.py), never in a test_*.py
    file that another test file imports."""
    sample = "import test_a\nfrom test_b import x\nfrom . import test_c\nfrom helpers import y\n"
    assert [n for _, n in imports_of_test_modules(sample)] == ["test_a", "test_b", "test_c"]
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}"
           for p in sorted((ROOT / "tests").rglob("*.py"))
           for line, name in imports_of_test_modules(p.read_text(encoding="utf-8"))]
    assert not bad, "\n".join(bad)


def test_cli_calls_the_api_not_the_engine():
    """The command line goes through harness.api (plus its printers and the light helpers):
    no module of harness/cli imports harness.engine."""
    bad = sorted(f"{m} -> {n}" for m, deps in graph().items() if m.startswith("harness.cli")
                 for n in deps if n == "harness.engine" or n.startswith("harness.engine."))
    assert not bad, bad
