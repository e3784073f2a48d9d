"""Result pages into dlt items: each job's rows shaped in its page order, gathered into
batches of about `BATCH_ROWS` rows (dict records, or Arrow tables where the page is one).

Pure functions and small classes, no I/O (the pages come from `reads.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from analytics_assets.api.arrow_bodies import TIMESTAMP, ArrowPage
from analytics_assets.api.arrow_pages import REQUIRED, page_table, with_variants
from analytics_assets.api.job_rows import ROW_ID
from analytics_assets.api.results import ResultRowIdentity, StagedRows, result_record, utc_now_iso

# dlt has a fixed cost per extracted item (it infers each Arrow table's schema): small pages
# are gathered into items of about this many rows, still only a few MB each.
BATCH_ROWS = 5000


class JobRows:
    """Turns one job's pages, in order, into warehouse rows (its ids count identical rows)."""

    def __init__(self, job: dict[str, Any], staged: StagedRows) -> None:
        self.uid = str(job["uid"])
        self.workflow_uid = str(job["workflow_uid"])
        self.identity = ResultRowIdentity(self.uid)
        self.extracted_at = utc_now_iso()
        self.staged = staged

    def records(self, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A dict page's rows as `result_record`s."""
        return [
            result_record(
                item,
                identity=self.identity,
                workflow_uid=self.workflow_uid,
                extracted_at=self.extracted_at,
            )
            for item in self.staged.fresh(self.uid, page)
        ]

    def table(self, page: ArrowPage) -> pa.Table:
        """An Arrow page's rows in the columns `page_table` makes of the same items."""
        table = page.table
        keep = self.staged.fresh_mask(self.uid, table.column("job_result_id").to_pylist())
        if keep is not None:
            table = table.filter(pa.array(keep))
        size = table.num_rows
        when = pa.array([self.extracted_at]).cast(TIMESTAMP)[0]
        columns = {
            "job_result_id": table.column("job_result_id"),
            "job_uid": pa.repeat(pa.scalar(self.uid, pa.string()), size),
            "workflow_uid": pa.repeat(pa.scalar(self.workflow_uid, pa.string()), size),
            "extracted_at": pc.fill_null(table.column("extracted_at"), when),
        }
        for name in table.column_names[2:]:
            if table.column(name).null_count < size:
                columns[name] = table.column(name)
        fields = [
            pa.field(name, array.type, nullable=name not in REQUIRED)
            for name, array in columns.items()
        ]
        return pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))


class Batch:
    """Rows gathered for one dlt item: dict records and Arrow pages, each kind kept apart."""

    def __init__(self, arrow: bool, column_types: Mapping[str, str] | None = None) -> None:
        self.arrow = arrow
        # job_results' columns in the warehouse: values retyping one go to a variant column.
        self.column_types = column_types or {}
        self.records: list[dict[str, Any]] = []
        self.tables: list[pa.Table] = []
        self.rows = 0

    def add(self, rows: JobRows, page: list[dict[str, Any]] | ArrowPage) -> None:
        if isinstance(page, ArrowPage):
            table = rows.table(page)
            self.tables.append(table)
            self.rows += table.num_rows
        else:
            records = rows.records(page)
            self.records += records
            self.rows += len(records)

    def flush(self) -> Iterator[list[dict[str, Any]] | pa.Table]:
        """The gathered rows as dlt items, and an empty batch."""
        if self.records:
            yield self._typed(_item(self.records, self.arrow))
        if self.tables:
            yield from map(self._typed, _concatenated(self.tables))
        self.records, self.tables, self.rows = [], [], 0

    def _typed(self, item: list[dict[str, Any]] | pa.Table) -> list[dict[str, Any]] | pa.Table:
        if isinstance(item, pa.Table) and self.column_types:
            item = with_variants(item, self.column_types)
        return with_row_ids(item)


def with_row_ids(item: list[dict[str, Any]] | pa.Table) -> list[dict[str, Any]] | pa.Table:
    """The rows with dlt's row id (`_dlt_id`): their `job_result_id`, unique in the table.

    dlt would otherwise draw a random id per row, and for Arrow rows rewrite every file it
    extracted in its normalize step to add the column; given here, a file whose columns match
    the table's is loaded as extracted, and a row keeps its id when it is loaded again.
    """
    if isinstance(item, list):
        for row in item:
            row[ROW_ID] = row["job_result_id"]
        return item
    if ROW_ID in item.column_names:
        return item
    ids = item.column("job_result_id")
    return item.append_column(pa.field(ROW_ID, ids.type, nullable=False), ids)


def _concatenated(tables: list[pa.Table]) -> list[pa.Table]:
    """One table when the pages' columns unify (an int column meeting floats becomes double,
    as in one inferred batch), else each page as it is."""
    try:
        return [pa.concat_tables(tables, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return tables


def _item(records: list[dict[str, Any]], arrow: bool) -> list[dict[str, Any]] | pa.Table:
    table = page_table(records) if arrow else None
    return table if table is not None else records
