"""The package's stages import only earlier stages, nothing imports the local harness but the command line, and no
module imports itself through others (README: Layout)."""

import ast
from pathlib import Path

import cspwh

PACKAGE = Path(cspwh.__file__).parent
# a stage may import the stages before it in this order (and itself); `settings` and `db` serve every stage
ORDER = ["settings", "catalogue", "db", "ingest", "warehouse", "alerts", "reporting"]
OUTSIDE_ORDER = {"generator": {"settings", "catalogue"}}
ENTRY_POINTS = {"cli", "local"}  # may import anything


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cspwh":
                if node.module == "cspwh":
                    found |= {f"cspwh.{alias.name}" for alias in node.names}
                else:
                    base = node.module
                    found |= {
                        f"{base}.{alias.name}"
                        if (PACKAGE.parent / base.replace(".", "/") / alias.name).exists()
                        or (PACKAGE.parent / base.replace(".", "/") / f"{alias.name}.py").exists()
                        else base
                        for alias in node.names
                    }
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "cspwh"}
        graph[module_name(path)] = found
    return graph


def stage(module: str) -> str:
    return module.split(".")[1] if "." in module else "cspwh"


def test_every_stage_imports_only_the_stages_before_it():
    allowed = {s: set(ORDER[: i + 1]) for i, s in enumerate(ORDER)} | OUTSIDE_ORDER
    wrong = []
    for module, targets in sorted(imports().items()):
        own = stage(module)
        if own in ENTRY_POINTS or own == "cspwh":
            continue
        for target in sorted(targets):
            if stage(target) not in allowed[own] | {own}:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_nothing_but_the_command_line_imports_the_local_harness():
    wrong = [
        f"{m} imports {t}"
        for m, ts in imports().items()
        for t in ts
        if stage(t) == "local" and stage(m) not in ENTRY_POINTS
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_through_others():
    found = imports()
    graph = {m: {t for t in ts if t in found} for m, ts in found.items()}
    cycles = []

    def visit(node, path, seen):
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                cycles.append(" -> ".join(path + [nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, path + [nxt], seen)

    for start in sorted(graph):
        visit(start, [start], {start})
    assert not cycles, "\n".join(sorted(set(cycles))[:20])
