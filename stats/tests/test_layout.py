"""The tree shows the architecture: each engine has one home (docs/design.md draws the map)."""

import ast
from pathlib import Path

import aau_stats

PACKAGE = Path(aau_stats.__file__).parent
SPARK_ONLY = ("pyspark", "sqlglot")


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_everything_of_spark_lives_in_the_spark_package():
    modules = sorted(PACKAGE.rglob("*.py"))
    outside = {path.relative_to(PACKAGE).as_posix(): name for path in modules if "spark" not in path.relative_to(
        PACKAGE).parts for name in _imports(path) if name.split(".")[0] in SPARK_ONLY}
    assert outside == {}
    inside = {name.split(".")[0] for path in (PACKAGE / "spark").glob("*.py") for name in _imports(path)}
    assert set(SPARK_ONLY) <= inside  # the check above looks for the right names
    assert not [path.name for path in PACKAGE.glob("*spark*.py")] + [path.name for path in PACKAGE.glob("*/*spark*.py")]


def test_the_report_has_one_home():
    assert (PACKAGE / "report" / "__init__.py").is_file()
    assert not [path.name for path in PACKAGE.glob("report*.py")]
