"""The package's floors (README "Development"): no module imports from a floor above its own."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hecl_keras"
FLOORS = {
    "config": 0, "progress": 0, "machine": 0,
    "data": 1, "losses": 1, "metrics": 1, "visualize": 1,
    "models": 2,
    "inference": 3, "export": 3, "photograph_graph": 3, "saving": 3, "presets": 3,
    "evaluation": 4,
    "training": 5, "tuning": 5,
    "cli": 6,
}


def floor_of(module: str) -> int:
    part = module.split(".")[1] if module.startswith("hecl_keras.") else module
    return FLOORS[part]


def imports_of(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hecl_keras."):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("hecl_keras."))


def test_every_module_has_a_floor():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert tops <= set(FLOORS), f"give these a floor: {sorted(tops - set(FLOORS))}"


def test_no_import_runs_up_the_floors():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = "hecl_keras." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if module.endswith(".__init__") and module.count(".") == 1:
            continue  # the package's own __init__
        own = floor_of(module)
        upward += [f"{module} -> {target}" for target in imports_of(path) if floor_of(target) > own]
    assert not upward, "imports that climb the floors:\n" + "\n".join(upward)
