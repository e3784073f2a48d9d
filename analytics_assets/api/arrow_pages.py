"""The fast path for result pages: one Arrow table per page instead of a list of dicts.

dlt writes Arrow tables straight to parquet and skips its per-row Python normalizer, which is
where most of a dict-based load goes (5-10x slower on this data). The table has exactly the
columns dlt's normalizer would make of the same dicts (`results` flattened into `results__*`).
Pages it cannot mirror exactly (a nested dict or list in a raw row, or mixed types in a column)
are yielded as dicts and take dlt's usual path; both land in the same table. Values whose type
differs from their column's in the warehouse (a workflow's edited step now sends text where it
sent numbers) go to a variant column `<column>__v_<type>`, as dlt's normalizer would name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

_TIMESTAMP = pa.timestamp("us", tz="UTC")
REQUIRED = ("job_result_id", "job_uid", "workflow_uid")  # the columns never null


# Warehouse column types (DuckDB, Postgres and the like, lower case) by the values they hold.
_FAMILIES = (
    ("text", ("char", "text", "string")),
    ("int", ("int",)),
    ("float", ("double", "real", "float", "decimal", "numeric")),
    ("bool", ("bool",)),
    ("time", ("timestamp", "date", "time")),
)


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


def with_variants(table: pa.Table, column_types: Mapping[str, str]) -> pa.Table:
    """`table` with each column whose values would be cast into another type in the warehouse
    (`column_types`: text into a number column, which fails the load) renamed to dlt's variant
    column for them."""
    names = [
        f"{name}__v_{_dlt_type(field.type)}"
        if _retypes(field.type, column_types.get(name))
        else name
        for name, field in zip(table.column_names, table.schema, strict=True)
    ]
    return table if names == table.column_names else table.rename_columns(names)


def _retypes(values: pa.DataType, stored: str | None) -> bool:
    """Whether values of this Arrow type would change type in a column stored as `stored`.
    Anything fits a text column, and integers a float one."""
    held = _family(stored) if stored else None
    if held is None or held == "text":
        return False
    if pa.types.is_integer(values):
        return held not in ("int", "float")
    if pa.types.is_floating(values):
        return held != "float"
    if pa.types.is_boolean(values):
        return held != "bool"
    if pa.types.is_timestamp(values):
        return held != "time"
    return True  # text (or anything else) into a typed column


def _family(stored: str) -> str | None:
    kind = stored.lower()
    return next((f for f, marks in _FAMILIES if any(m in kind for m in marks)), None)


def _dlt_type(values: pa.DataType) -> str:
    """dlt's name for the type of these values (what its variant columns are named after)."""
    checks = (
        (pa.types.is_integer, "bigint"),
        (pa.types.is_floating, "double"),
        (pa.types.is_boolean, "bool"),
        (pa.types.is_timestamp, "timestamp"),
    )
    return next((name for check, name in checks if check(values)), "text")
