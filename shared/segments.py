"""Segment readers: find the data files of a segment folder and stream their rows.

A segment is a folder of blobs: CSV with a header, CSV.gz, JSON Lines (optionally gzipped), Parquet, or
the CDM folder form a customer-data platform writes — ``model.json`` or ``*.manifest.cdm.json``
describing headerless CSV partitions. Readers stream (never a whole file in memory) and yield
``(line, values)`` in the order of the requested columns, or a ``RowError`` naming the line, so one bad
row costs that row only. This is the hot path of a run: rows are tuples, column positions are resolved
once per file, and no per-row dict is built for CSV.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import posixpath
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from shared.errors import SegmentFormatError

FORMATS = {
    ".csv.gz": "csv.gz",
    ".csv": "csv",
    ".jsonl.gz": "jsonl.gz",
    ".ndjson.gz": "jsonl.gz",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
MODEL_JSON = "model.json"
MANIFEST_SUFFIX = ".manifest.cdm.json"
PARQUET_BATCH = 65_536


@dataclass(frozen=True, slots=True)
class SourcePart:
    segment: str
    blob: str
    format: str  # csv | csv.gz | jsonl | jsonl.gz | parquet | cdm_csv
    columns: tuple[str, ...] | None = None  # headerless CDM partitions: names from the model
    delimiter: str = ","
    has_header: bool = True


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str


Row = tuple[int, tuple[str, ...]] | RowError


# ---- discovery -------------------------------------------------------------------------------------


def _format_of(name: str) -> str | None:
    lowered = name.lower()
    for suffix, fmt in FORMATS.items():
        if lowered.endswith(suffix):
            return fmt
    return None


def _ignored(name: str) -> bool:
    base = posixpath.basename(name)
    return base.startswith(("_", "."))


def discover_parts(segment: str, blob_names: Sequence[str], read_text: Callable[[str], str]) -> list[SourcePart]:
    """The data files of ``segment`` in a stable order. Raises SegmentFormatError for a broken model."""
    names = sorted(blob_names)
    models = [n for n in names if posixpath.basename(n) == MODEL_JSON]
    manifests = [n for n in names if n.endswith(MANIFEST_SUFFIX)]
    if models:
        return _parts_from_model_json(segment, models[0], names, read_text)
    if manifests:
        parts: list[SourcePart] = []
        for manifest in manifests:
            parts.extend(_parts_from_manifest(segment, manifest, names, read_text))
        return parts
    parts = []
    for name in names:
        fmt = _format_of(name)
        if fmt is not None and not _ignored(name):
            parts.append(SourcePart(segment=segment, blob=name, format=fmt))
    return parts


def _load_json(blob: str, read_text: Callable[[str], str]) -> Any:
    try:
        return json.loads(read_text(blob))
    except json.JSONDecodeError as exc:
        raise SegmentFormatError(f"not valid JSON ({exc.msg})", blob=blob, line=exc.lineno) from None


def _resolve(location: str, folder: str, names: Sequence[str], model_blob: str) -> str:
    """A partition location (absolute URL, adapter path or relative path) as a blob of this folder."""
    path = unquote(urlparse(location).path) if "://" in location else location
    path = path.split(":", 1)[1] if path.startswith("adls:") else path
    candidate = posixpath.normpath(posixpath.join(folder, path)) if not path.startswith("/") else path
    if candidate in names:
        return candidate
    # Absolute locations carry account and container: match the longest suffix inside the folder.
    for name in names:
        if path.endswith("/" + name) or path.endswith("/" + name.removeprefix(folder + "/")):
            return name
    raise SegmentFormatError(f"partition {location!r} is not in the segment folder", blob=model_blob)


def _parts_from_model_json(
    segment: str, model_blob: str, names: Sequence[str], read_text: Callable[[str], str]
) -> list[SourcePart]:
    model = _load_json(model_blob, read_text)
    folder = posixpath.dirname(model_blob)
    entities = model.get("entities") if isinstance(model, dict) else None
    if not entities:
        raise SegmentFormatError("model.json lists no entities", blob=model_blob)
    parts: list[SourcePart] = []
    for entity in entities:
        columns = tuple(str(a.get("name", "")) for a in entity.get("attributes") or [])
        if not columns or not all(columns):
            raise SegmentFormatError(f"entity {entity.get('name')!r} has no attribute names", blob=model_blob)
        for partition in entity.get("partitions") or []:
            settings = partition.get("fileFormatSettings") or {}
            parts.append(
                SourcePart(
                    segment=segment,
                    blob=_resolve(str(partition.get("location", "")), folder, names, model_blob),
                    format="cdm_csv",
                    columns=columns,
                    delimiter=str(settings.get("delimiter") or settings.get("csvDelimiter") or ","),
                    has_header=bool(settings.get("columnHeaders", settings.get("csvHeader", False))),
                )
            )
    return parts


def _parts_from_manifest(
    segment: str, manifest_blob: str, names: Sequence[str], read_text: Callable[[str], str]
) -> list[SourcePart]:
    manifest = _load_json(manifest_blob, read_text)
    folder = posixpath.dirname(manifest_blob)
    entities = manifest.get("entities") if isinstance(manifest, dict) else None
    if not entities:
        raise SegmentFormatError("the manifest lists no entities", blob=manifest_blob)
    parts: list[SourcePart] = []
    for entity in entities:
        path = str(entity.get("entityPath", ""))
        definition_file, _, entity_name = path.partition("/")
        definition_blob = _resolve(definition_file, folder, names, manifest_blob)
        definition = _load_json(definition_blob, read_text)
        columns: tuple[str, ...] = ()
        for item in definition.get("definitions") or []:
            if not entity_name or item.get("entityName") == entity_name:
                columns = tuple(str(a.get("name", "")) for a in item.get("hasAttributes") or [])
                break
        if not columns or not all(columns):
            raise SegmentFormatError(f"entity {entity_name!r} has no attribute names", blob=definition_blob)
        for partition in entity.get("dataPartitions") or []:
            arguments: dict[str, str] = {}
            for trait in partition.get("exhibitsTraits") or []:
                if isinstance(trait, dict) and trait.get("traitReference") == "is.partition.format.CSV":
                    for argument in trait.get("arguments") or []:
                        arguments[str(argument.get("name"))] = str(argument.get("value"))
            parts.append(
                SourcePart(
                    segment=segment,
                    blob=_resolve(str(partition.get("location", "")), folder, names, manifest_blob),
                    format="cdm_csv",
                    columns=columns,
                    delimiter=arguments.get("delimiter", ","),
                    has_header=arguments.get("columnHeaders", "false").lower() == "true",
                )
            )
    return parts


# ---- reading ---------------------------------------------------------------------------------------


def _positions(header: Sequence[str], columns: Sequence[str], blob: str) -> list[int]:
    """Where each requested column sits in ``header`` (case- and space-insensitive)."""
    index = {name.strip().lower(): i for i, name in enumerate(header)}
    positions, missing = [], []
    for column in columns:
        at = index.get(column.strip().lower())
        if at is None:
            missing.append(column)
        else:
            positions.append(at)
    if missing:
        which = "the email column" if missing[0] == columns[0] else "mapped column(s)"
        raise SegmentFormatError(
            f"{which} {', '.join(repr(m) for m in missing)} not found; the file has {', '.join(header)}",
            blob=blob,
            line=1,
        )
    return positions


def _text(stream: BinaryIO, gzipped: bool) -> io.TextIOWrapper:
    raw: Any = gzip.GzipFile(fileobj=stream, mode="rb") if gzipped else stream
    # Undecodable bytes become U+FFFD and are reported on their row instead of stopping the file.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def _read_csv(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> Iterator[Row]:
    text = _text(stream, part.format == "csv.gz")
    reader = csv.reader(text, delimiter=part.delimiter, strict=False)
    if part.columns is not None:
        header: Sequence[str] = part.columns
        if part.has_header:
            next(reader, None)
    else:
        first = next(reader, None)
        if first is None:
            return
        header = first
    positions = _positions(header, columns, part.blob)
    width = len(header)
    line = reader.line_num
    for record in reader:
        start = line + 1
        line = reader.line_num
        if len(record) != width:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line is not a profile
            yield RowError(start, f"expected {width} fields, found {len(record)}")
            continue
        values = tuple([record[p] for p in positions])
        if "\ufffd" in values[0]:
            yield RowError(start, "the email is not valid UTF-8")
            continue
        yield start, values


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_jsonl(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> Iterator[Row]:
    raw: Any = gzip.GzipFile(fileobj=stream, mode="rb") if part.format == "jsonl.gz" else stream
    keys: dict[str, str] | None = None  # lower-cased requested column → key as the file spells it
    wanted = [c.strip().lower() for c in columns]
    decoder = codecs.getincrementaldecoder("utf-8")
    for number, data in enumerate(raw, start=1):
        if not data.strip():
            continue
        try:
            item = json.loads(decoder().decode(data, final=True))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            yield RowError(number, f"not a valid JSON line ({type(exc).__name__})")
            continue
        if not isinstance(item, dict):
            yield RowError(number, "a JSON line must be an object")
            continue
        if keys is None or any(k not in item for k in keys.values()):
            found = {k.strip().lower(): k for k in item}
            keys = {w: found[w] for w in wanted if w in found}
            if wanted[0] not in keys and number == 1:
                raise SegmentFormatError(f"the email column {columns[0]!r} not found", blob=part.blob, line=number)
        yield number, tuple(_scalar(item.get(keys.get(w, w))) for w in wanted)


def _read_parquet(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> Iterator[Row]:
    import pyarrow.parquet as pq

    source = pq.ParquetFile(stream)
    schema_names = source.schema_arrow.names
    positions = _positions(schema_names, columns, part.blob)
    names = [schema_names[p] for p in positions]
    line = 1
    for batch in source.iter_batches(batch_size=PARQUET_BATCH, columns=sorted(set(names))):
        by_name = {name: batch.column(batch.schema.get_field_index(name)).to_pylist() for name in set(names)}
        lists = [by_name[name] for name in names]
        for values in zip(*lists, strict=True):
            line += 1
            yield line, tuple(_scalar(v) for v in values)


def read_part(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> Iterator[Row]:
    """Rows of one file as ``(line, values)`` in ``columns`` order (email first), or ``RowError``.

    Line numbers are physical lines (the header is line 1; for Parquet, row n is line n + 1).
    Raises SegmentFormatError when the file cannot be read at all (e.g. the email column is missing).
    """
    if part.format in ("csv", "csv.gz", "cdm_csv"):
        return _read_csv(part, stream, columns)
    if part.format in ("jsonl", "jsonl.gz"):
        return _read_jsonl(part, stream, columns)
    if part.format == "parquet":
        return _read_parquet(part, stream, columns)
    raise SegmentFormatError(f"unsupported format {part.format!r}", blob=part.blob)
