"""The fast path for result pages: one Arrow table per page instead of a list of dicts.

dlt writes Arrow tables straight to parquet and skips its per-row Python normalizer, which is
where most of a dict-based load goes (5-10x slower on this data). The table has exactly the
columns dlt's normalizer would make of the same dicts (`results` flattened into `results__*`).
Pages it cannot mirror exactly (a nested dict or list in a raw row, or mixed types in a column)
are yielded as dicts and take dlt's usual path; both land in the same table.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

_TIMESTAMP = pa.timestamp("us", tz="UTC")
REQUIRED = ("job_result_id", "job_uid", "workflow_uid")  # the columns never null


def page_table(records: list[dict[str, Any]]) -> pa.Table | None:
    """An Arrow table for a batch of `result_record`s, or None to use dicts instead."""
    if not records:
        return None
    size = len(records)
    columns: dict[str, Any] = {
        name: [record[name] for record in records] for name in (*REQUIRED, "extracted_at")
    }
    fields, arrays = [], []
    try:
        # One struct array infers every raw key's type in C++ (keys in first-seen order, None
        # where a row lacks one); its children are the `results__*` columns.
        raw = pa.array([record["results"] for record in records])
        if not pa.types.is_struct(raw.type):
            return None
        for field, child in zip(raw.type, raw.flatten(), strict=True):
            columns[f"results__{field.name}"] = child
        for name, values in columns.items():
            array = values if isinstance(values, pa.Array) else pa.array(values)
            if pa.types.is_nested(array.type):
                return None  # a nested dict or list: dlt's normalizer makes child tables of it
            if name == "extracted_at":
                array = array.cast(_TIMESTAMP)  # ISO-8601 text, as dlt would coerce it
            elif array.null_count == size:
                continue  # dicts would not create a column that is null on every row either
            fields.append(pa.field(name, array.type, nullable=name not in REQUIRED))
            arrays.append(array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None  # e.g. a column mixing numbers and text: dlt's variant columns handle it
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
