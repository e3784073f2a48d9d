"""Result pages parsed straight from the answer's bytes into Arrow, in C++ and without the GIL.

Profiling a 1M-row load showed the consumer thread as the bottleneck, busy turning each page
into Python dicts (orjson), result records and back into Arrow: work done under the GIL, so
the fetch threads could not help. Arrow's JSON reader does all of it in the fetch thread while
the GIL is free. A page takes this path only when the result is exactly the table the dict
path makes (`arrow_pages.page_table`); anything else (raw rows whose ids are derived in Python,
nested values, mixed types, a huge integer, a body the reader refuses) returns None, and the
caller parses the body as before.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from analytics_assets.api.bodies import may_hold_a_huge_integer

TIMESTAMP = pa.timestamp("us", tz="UTC")  # how the dict path types `extracted_at`


@dataclass(frozen=True)
class ArrowPage:
    """One results page: `job_result_id`, `extracted_at` (text, may be null) and the
    `results__*` columns, with the page's paging flags."""

    table: pa.Table
    have_next_page: bool
    next: str | None

    def __len__(self) -> int:
        return self.table.num_rows


class ArrowPages:
    """Parses result pages into `ArrowPage`s, reading each with the text-for-timestamps
    schema of the pages before it, so that the usual page is read once, not twice.

    One instance may serve several fetch threads: the schema is replaced whole, and a stale
    one costs a second read, never a wrong table (unexpected fields are still inferred).
    """

    def __init__(self) -> None:
        self.schema: pa.Schema | None = None

    def __call__(self, body: bytes) -> ArrowPage | None:
        """The page as Arrow, or None when only the dict path reads it exactly."""
        if may_hold_a_huge_integer(body):
            return None  # Arrow would read it as a float; the dict path keeps it exact
        try:
            parsed = self._read(body)
            return None if parsed is None else _page(parsed)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            self.schema = None  # e.g. a field's type changed: infer afresh next time
            return None

    def _read(self, body: bytes) -> pa.Table | None:
        """The body as a one-row table, text kept as text (the reader would turn ISO dates
        into timestamps, which the dict path keeps as text)."""
        table = _read_json(body, self.schema)
        if table.num_rows != 1:
            return None
        if _has_timestamps(table.schema):
            table = _read_json(body, _hint(table.schema))
        self.schema = _hint(table.schema)
        return table


def arrow_page(body: bytes) -> ArrowPage | None:
    """One page as Arrow (see `ArrowPages`), or None for the dict path."""
    return ArrowPages()(body)


def _has_timestamps(schema: pa.Schema) -> bool:
    return any(_is_temporal(field.type) for field in schema)


def _is_temporal(kind: pa.DataType) -> bool:
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind):
        return True
    if pa.types.is_struct(kind):
        return any(_is_temporal(field.type) for field in kind)
    return pa.types.is_list(kind) and _is_temporal(kind.value_type)


def _read_json(body: bytes, schema: pa.Schema | None) -> pa.Table:
    # Fields the schema lacks, nested ones included, are inferred.
    options = pa_json.ParseOptions(newlines_in_values=True, explicit_schema=schema)
    return pa_json.read_json(io.BytesIO(body), parse_options=options)


def _hint(schema: pa.Schema) -> pa.Schema:
    """The schema to read the next pages with: text for timestamps, and no all-null field (a
    null type would refuse the values a later page has; left out, they are inferred)."""
    return pa.schema(_fields(schema))


def _fields(fields: pa.Schema | pa.StructType) -> list[pa.Field]:
    kept = []
    for field in fields:
        kind = _as_text(field.type)
        if kind is not None:
            kept.append(field.with_type(kind))
    return kept


def _as_text(kind: pa.DataType) -> pa.DataType | None:
    """The same type with every timestamp read as text, None for a null type."""
    if pa.types.is_null(kind):
        return None
    if _is_temporal(kind) and not pa.types.is_nested(kind):
        return pa.string()
    if pa.types.is_struct(kind):
        return pa.struct(_fields(kind))
    if pa.types.is_list(kind):
        value = _as_text(kind.value_type)
        return None if value is None else pa.list_(kind.value_field.with_type(value))
    return kind


def _page(parsed: pa.Table) -> ArrowPage | None:
    names = parsed.schema.names
    if "results" not in names or "paging" not in names:
        return None
    paging = parsed.column("paging").to_pylist()[0]
    if not isinstance(paging, dict) or not isinstance(paging.get("have_next_page"), bool):
        return None  # the dict path words the error
    more, cursor = paging["have_next_page"], paging.get("next")
    if more and cursor in (None, ""):
        return None
    items = parsed.column("results")
    if not pa.types.is_list(items.type) or not pa.types.is_struct(items.type.value_type):
        return None
    table = _rows(pc.list_flatten(items.combine_chunks()))
    if table is None:
        return None
    return ArrowPage(table, more, str(cursor) if more else None)


def _rows(items: pa.StructArray) -> pa.Table | None:
    """Spec-shaped items (every one with a non-empty text id and a `results` object) as flat
    columns; `extracted_at` as a UTC timestamp, null where the item has none."""
    kind = items.type
    if kind.get_field_index("job_result_id") < 0 or kind.get_field_index("results") < 0:
        return None  # raw rows: their ids are derived in Python (the dict path)
    ids, raw = items.field("job_result_id"), items.field("results")
    if items.null_count or not pa.types.is_string(ids.type) or not pa.types.is_struct(raw.type):
        return None
    if ids.null_count or raw.null_count or pc.any(pc.equal(ids, "")).as_py():
        return None
    size = len(items)
    names, arrays = ["job_result_id", "extracted_at"], [ids, _extracted_at(items)]
    for field, child in zip(raw.type, raw.flatten(), strict=True):
        if pa.types.is_nested(child.type):
            return None  # dlt's normalizer makes child tables of nested values
        if child.null_count == size:
            continue  # dicts would not create a column that is null on every row either
        names.append(f"results__{field.name}")
        arrays.append(child)
    return pa.Table.from_arrays(arrays, names=names)


def _extracted_at(items: pa.StructArray) -> pa.Array:
    """The items' `extracted_at` as the dict path casts it (ArrowInvalid if it cannot)."""
    if items.type.get_field_index("extracted_at") < 0:
        return pa.nulls(len(items), TIMESTAMP)
    extracted = items.field("extracted_at")
    if pa.types.is_null(extracted.type):
        return pa.nulls(len(items), TIMESTAMP)
    if not pa.types.is_string(extracted.type):
        raise pa.ArrowInvalid("extracted_at is not text")
    # "" counts as missing, as in the dict path (`item.get("extracted_at") or ...`).
    return pc.if_else(pc.equal(extracted, ""), None, extracted).cast(TIMESTAMP)
