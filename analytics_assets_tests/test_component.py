"""The dg component in a brand-new dg project: scaffolded twice (`sales`, `marketing`), listed
with `dg list defs`, and each instance launched with `dg launch` against its own simulator into
one DuckDB file, two datasets."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from analytics_assets.api.job_rows import is_successful
from analytics_assets.defs.declared import API_ASSETS
from analytics_dev.simulator import ApiSimulator, SimulatedData

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPONENT = "analytics_assets.AnalyticsApiComponent"
RESOURCES = [asset.name for asset in API_ASSETS]
INSTANCES = {"sales": (11, 3), "marketing": (23, 4)}  # name: (seed, workflows)

PYPROJECT = """\
[project]
name = "team-project"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["analytics-assets"]

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "team_project"
"""
DEFINITIONS = """\
from pathlib import Path

from dagster import definitions, load_from_defs_folder


@definitions
def defs():
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def _project(tmp_path: Path) -> Path:
    """A dg project of a team's own, with an empty defs folder, in this environment (where
    analytics-assets is installed) and its own module on the path."""
    root = tmp_path / "team-project"
    package = root / "src" / "team_project"
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    return root


def _dg(root: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "dg"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"dg {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def _expected(data: SimulatedData) -> dict[str, int]:
    jobs = data.all_jobs()
    successful = [job for job in jobs if is_successful(job)]
    return {
        "workspace": 1,
        "workflows": len(data.workflows),
        "jobs": len(jobs),
        "successful_jobs": len(successful),
        "job_results": sum(data.result_count(job["uid"]) for job in successful),
    }


@pytest.fixture
def simulators():
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(
                ApiSimulator(SimulatedData(seed=seed, workflows=n), api_key=f"{name}-key-0123")
            )
            for name, (seed, n) in INSTANCES.items()
        }


@pytest.mark.timeout(900)  # seven dg commands, each a fresh process that loads the project
def test_two_instances_scaffolded_into_a_new_dg_project_list_and_load_side_by_side(
    tmp_path, simulators
):
    root = _project(tmp_path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    warehouse = tmp_path / "warehouse" / "shared.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(root / "src"),
        DAGSTER_HOME=str(home),
        TEAM_WAREHOUSE=str(warehouse),
        NO_COLOR="1",
    )
    listed_types = json.loads(_dg(root, env, "list", "components", "--json"))
    assert COMPONENT in {c["key"] for c in listed_types["items"]}
    for name, sim in simulators.items():
        _dg(root, env, "scaffold", "defs", COMPONENT, name)
        # What the scaffold reads, from the environment (the key never enters the YAML).
        env[f"{name.upper()}_ANALYTICS_API_BASE_URL"] = sim.base_url
        env[f"{name.upper()}_ANALYTICS_API_KEY"] = sim.api_key
        path = root / "src" / "team_project" / "defs" / name / "defs.yaml"
        written = yaml.safe_load(path.read_text())
        assert written["type"] == COMPONENT
        assert written["attributes"]["key_prefix"] == name
        written["attributes"]["duckdb_path"] = "{{ env.TEAM_WAREHOUSE }}"
        path.write_text(yaml.safe_dump(written, sort_keys=False))

    raw = _dg(root, env, "list", "defs", "--json")
    listed = json.loads(raw)
    assert {a["asset_key"] for a in listed["assets"]} == {
        f"{name}/{resource}" for name in INSTANCES for resource in RESOURCES
    }
    assert {s["name"] for s in listed["sensors"]} == {
        f"{name}_workflow_{kind}_sensor" for name in INSTANCES for kind in ("refresh", "webhook")
    }
    assert {c["key"] for c in listed["asset_checks"]} == {
        f"{name}/{table}:{name}_{check}"
        for name in INSTANCES
        for table, check in (
            ("successful_jobs", "successful_jobs_filter"),
            ("workspace", "quota_forecast"),
            ("jobs", "failed_jobs"),
            ("job_results", "column_schema_change"),
        )
    }
    assert not any(sim.api_key in raw for sim in simulators.values())

    for name, sim in simulators.items():
        _dg(root, env, "launch", "--job", f"{name}_workspace_job")
        uids = [w["uid"] for w in sim.data.workflows]
        span = f"{uids[0]}...{uids[-1]}"
        _dg(
            root,
            env,
            "launch",
            "--job",
            f"{name}_workflow_partition_job",
            "--partition-range",
            span,
        )

    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name, sim in simulators.items():
            counts = {
                table: con.execute(f"SELECT count(*) FROM {name}_analytics.{table}").fetchall()[0][
                    0
                ]
                for table in RESOURCES
            }
            assert counts == _expected(sim.data), name
        schemas = {
            row[0] for row in con.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()
        }
    assert {"sales_analytics", "marketing_analytics"} <= schemas
    assert "analytics" not in schemas  # an instance with a prefix writes only its own dataset
