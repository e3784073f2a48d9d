"""The layers hold: the wheel is the product only, the API layer is plain dlt (no Dagster), the
product imports none of the dev tooling. (Function size and complexity are ruff's: C901,
PLR0913 and PLR0915 in pyproject.toml, checked by `make lint`.)"""

import ast
import importlib.util
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "analytics_assets"
API = PRODUCT / "api"
DEV = ROOT / "analytics_dev"
DEV_ONLY_MODULES = ("simulator", "benchmark", "demo")
DEV_ONLY_REQUIREMENTS = ("psutil",)


def _py_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imported(path: Path, package: tuple[str, ...] | None = None) -> set[str]:
    """Every module `path` imports by absolute name, relative imports resolved against its
    `package` (by default, where it sits under ROOT)."""
    if package is None:
        package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(".".join([*base, *([node.module] if node.module else [])]))
            else:
                names.add(node.module or "")
    return names


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _build_wheel(out: Path) -> Path:
    uv = ROOT / ".uv" / "bin" / "uv"
    if uv.exists():
        cmd = [str(uv), "build", "--wheel", "--out-dir", str(out)]
    elif importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out)]
    else:
        pytest.fail(f"nothing to build the wheel with: no {uv} and no `build` module")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {out}, found {wheels}"
    return wheels[0]


@pytest.mark.subprocess
def test_the_wheel_holds_the_product_only(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/", 1)[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
    stray = [n for n in names if not n.startswith(("analytics_assets/", f"{dist_info}/"))]
    assert stray == [], f"files outside analytics_assets/ in {wheel.name}: {stray}"
    dev = [
        n
        for n in names
        if any(part.removesuffix(".py") in DEV_ONLY_MODULES for part in n.split("/"))
    ]
    assert dev == [], f"dev tooling in {wheel.name}: {dev}"
    assert "analytics_assets/definitions.py" in names  # the code location itself is shipped
    requires = metadata.get_all("Requires-Dist") or []
    dev_requires = [r for r in requires if r.split()[0].split("[")[0] in DEV_ONLY_REQUIREMENTS]
    assert dev_requires == [], f"dev-only requirements of the wheel: {dev_requires}"


def test_the_api_layer_imports_no_dagster():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imported(path)
            if _top(name) == "dagster" or _top(name).startswith("dagster_")
        )
        for path in _py_files(API)
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}, f"analytics_assets/api/ is plain dlt, yet imports: {offenders}"


@pytest.mark.subprocess
def test_the_api_layer_pulls_in_no_dagster_when_imported():
    """The same, through everything the API layer imports in turn (settings, constants, ...)."""
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in _py_files(API)
    ]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0].startswith("
        "'dagster')}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]", f"importing analytics_assets.api loads {done.stdout}"


def test_the_product_imports_no_dev_tooling():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imported(path) if _top(n) in ("analytics_dev", "analytics_assets_tests")
        )
        for path in _py_files(PRODUCT)
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}, f"the product imports dev tooling or tests: {offenders}"


def test_the_dev_tooling_imports_no_tests():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imported(path) if _top(n) == "analytics_assets_tests"
        )
        for path in _py_files(DEV)
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}, f"analytics_dev imports the tests: {offenders}"


def test_the_import_walk_resolves_relative_imports(tmp_path):
    module = tmp_path / "client.py"
    module.write_text(
        "import json, dagster_dlt.asset\nfrom dagster import asset\n"
        "from . import paging\nfrom ..defs import resources\nfrom .budget import RateBudget\n"
    )
    assert _imported(module, ("analytics_assets", "api")) == {
        "json",
        "dagster_dlt.asset",
        "dagster",
        "analytics_assets.api",
        "analytics_assets.defs",
        "analytics_assets.api.budget",
    }
