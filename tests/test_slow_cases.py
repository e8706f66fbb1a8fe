"""Every node id of ``slow_cases.txt`` names a test that exists (a rename would silently drop its
``slow`` mark and put a measured-slow test back in the default suite); ``file_order.txt`` names
every test file once."""

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
SLOW_CASES = ROOT / "tests" / "slow_cases.txt"


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_every_slow_case_names_an_existing_test():
    lines = SLOW_CASES.read_text().splitlines()
    ids = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert len(ids) > 100
    names: dict[str, set[str]] = {}
    missing = []
    for node_id in ids:
        path, _, rest = node_id.partition("::")
        function = rest.split("::")[-1].split("[")[0]
        if path not in names:
            names[path] = _test_names(ROOT / path) if (ROOT / path).is_file() else set()
        if function not in names[path]:
            missing.append(node_id)
    assert not missing, f"slow_cases.txt names tests that do not exist: {missing}"


def test_file_order_lists_every_test_file_once():
    """``file_order.txt`` (longest first, conftest.py) names each existing test file once, so a
    new or renamed file does not silently start last."""
    order = (ROOT / "tests" / "file_order.txt").read_text().split()
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py"))
    assert len(order) == len(set(order))
    assert sorted(order) == files
