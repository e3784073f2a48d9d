"""A short, human summary of what the warehouse holds (printed by the demo)."""

from analytics_assets import constants as c
from analytics_assets.defs.declared import API_ASSETS
from analytics_assets.settings import ApiSettings
from analytics_assets.warehouse.lock import writer_lock
from analytics_assets.warehouse.pipelines import make_pipeline
from analytics_assets.warehouse.reader import read_warehouse

TABLES = [asset.name for asset in API_ASSETS]


def table_counts(settings: ApiSettings) -> dict[str, int]:
    """Rows per asset table (0 for a table not created yet)."""
    pipeline = make_pipeline(settings, name="analytics_summary")
    with writer_lock(settings), read_warehouse(pipeline) as warehouse:
        return {table: warehouse.count(table) for table in TABLES}


def print_summary(settings: ApiSettings, checks: dict[str, bool], seconds: float) -> None:
    counts = table_counts(settings)
    where = settings.duckdb_path if settings.is_duckdb else settings.destination
    print(f"\nwarehouse: {where} (dataset {c.DATASET_NAME})")
    for table, count in counts.items():
        print(f"  {table:<16} {count:>8} rows")
    failed = sorted(uid for uid, passed in checks.items() if not passed)
    verdict = "passed" if not failed else f"FAILED for {', '.join(failed)}"
    print(f"check successful_jobs_filter: {verdict} on {len(checks)} partition(s)")
    print(f"done in {seconds:.1f} s")
