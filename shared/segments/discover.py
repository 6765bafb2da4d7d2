"""Find the data files of a segment folder: plain files by suffix, or the partitions a CDM folder's
``model.json`` / ``*.manifest.cdm.json`` lists.

A problem that concerns one file (a model that is not JSON, an entity without attributes, a partition
location that names no file of the folder) becomes a part with ``problem`` set: the run holds that
part back and reads the others. Locations may be relative to the model's folder, absolute URLs, or
CDM corpus paths with an adapter namespace (``local:/…``, ``adls:/…``) as Microsoft's CDM object model
writes them; all resolve only to blobs listed under the segment folder, so a location can never make
the run read outside it.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlparse

from shared.segments.parts import SourcePart

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
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*:(?!//)")


class _Problem(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _format_of(name: str) -> str | None:
    lowered = name.lower()
    for suffix, fmt in FORMATS.items():
        if lowered.endswith(suffix):
            return fmt
    return None


def _ignored(name: str) -> bool:
    return posixpath.basename(name).startswith(("_", "."))


def discover_parts(segment: str, blob_names: Sequence[str], read_text: Callable[[str], str]) -> list[SourcePart]:
    """The data files of ``segment`` in a stable order; unusable ones carry their ``problem``."""
    names = sorted(blob_names)
    models = [n for n in names if posixpath.basename(n) == MODEL_JSON]
    manifests = [n for n in names if n.endswith(MANIFEST_SUFFIX)]
    if models:
        return _guarded(segment, models[0], lambda: _parts_from_model_json(segment, models[0], names, read_text))
    if manifests:
        parts: list[SourcePart] = []
        for manifest in manifests:
            parts.extend(
                _guarded(
                    segment, manifest, functools.partial(_parts_from_manifest, segment, manifest, names, read_text)
                )
            )
        return parts
    return [
        SourcePart(segment=segment, blob=name, format=fmt)
        for name in names
        if (fmt := _format_of(name)) is not None and not _ignored(name)
    ]


def _guarded(segment: str, blob: str, build: Callable[[], list[SourcePart]]) -> list[SourcePart]:
    try:
        return build()
    except _Problem as problem:
        return [_unusable(segment, blob, problem)]


def _unusable(segment: str, blob: str, problem: _Problem) -> SourcePart:
    return SourcePart(segment, blob, "cdm", problem=problem.message, problem_line=problem.line)


def _load_json(blob: str, read_text: Callable[[str], str]) -> Any:
    try:
        return json.loads(read_text(blob))
    except UnicodeDecodeError:
        raise _Problem("not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise _Problem(f"not valid JSON ({exc.msg})", line=exc.lineno) from None


def _folders(names: Sequence[str]) -> list[str]:
    """Every folder that holds one of ``names``, at any depth."""
    found: set[str] = set()
    for name in names:
        folder = posixpath.dirname(name)
        while folder and folder not in found:
            found.add(folder)
            folder = posixpath.dirname(folder)
    return sorted(found)


def _glob(pattern: str) -> re.Pattern[str]:
    """A CDM glob (``*`` within a folder, ``**`` across folders, ``?`` one character, ``\\`` = ``/``)."""
    out, i, text = [], 0, pattern.replace("\\", "/")
    while i < len(text):
        if text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*")
            i += 1
        elif text[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return re.compile("".join(out))


def _pattern_files(pattern: dict[str, Any], folder: str, names: Sequence[str]) -> list[str] | None:
    """Blobs a ``dataPartitionPatterns`` entry selects, or None when its root is not in the folder.

    Paths are matched relative to the root, with and without a leading ``/`` (writers use both)."""
    root_location = str(pattern.get("rootLocation") or "")
    root = resolve(root_location, folder, _folders(names), folder_ok=True) if root_location else folder
    if root is None:
        return None
    glob = pattern.get("globPattern")
    regex = _glob(str(glob)) if glob else re.compile(str(pattern.get("regularExpression") or ".*"))
    chosen = []
    for name in names:
        if not name.startswith(root + "/"):
            continue
        relative = name[len(root) + 1 :]
        if regex.fullmatch(relative) or regex.fullmatch("/" + relative):
            chosen.append(name)
    return chosen


def resolve(location: str, folder: str, names: Sequence[str], *, folder_ok: bool = False) -> str | None:
    """The blob of the segment folder that ``location`` names, or None.

    Relative locations are relative to ``folder`` (the model's) and may not climb out of it. Absolute
    ones (URLs, ``adls:/container/path``, ``local:/path``) carry a root this service cannot know (the
    storage account, the adapter's root folder), so the blob is the one whose name is the longest
    suffix of the path.
    """
    path = unquote(urlparse(location).path) if "://" in location else _NAMESPACE.sub("", location, count=1)
    if not path.startswith("/"):
        candidate = posixpath.normpath(posixpath.join(folder, path))
        inside = candidate.startswith(folder.rstrip("/") + "/") if folder else not candidate.startswith("..")
        if folder_ok and candidate == folder:
            return candidate
        return candidate if inside and candidate in names else None
    path = posixpath.normpath(path)
    if folder_ok and path.rstrip("/") in ("", "/"):
        return folder
    best: str | None = None
    for name in names:
        # Compare whole path segments: "/x/vip/p.csv" matches "vip/p.csv", never "ip/p.csv".
        parts = name.split("/")
        for i in range(len(parts)):
            if path.endswith("/" + "/".join(parts[i:])):
                if best is None or len(name.split("/")) - i > _matched(best, path):
                    best = name
                break
    return best


def _matched(name: str, path: str) -> int:
    parts = name.split("/")
    for i in range(len(parts)):
        if path.endswith("/" + "/".join(parts[i:])):
            return len(parts) - i
    return 0


def _partition(
    segment: str, entity: str, location: str, folder: str, names: Sequence[str], model_blob: str, **fields: Any
) -> SourcePart:
    blob = resolve(location, folder, names)
    if blob is None:
        return SourcePart(
            segment=segment,
            blob=model_blob,
            format="cdm",
            problem=(f"entity {entity!r}: data partition {location!r} is not a file of the segment folder {segment!r}"),
        )
    return SourcePart(segment=segment, blob=blob, format="cdm_csv", **fields)


def _parts_from_model_json(
    segment: str, model_blob: str, names: Sequence[str], read_text: Callable[[str], str]
) -> list[SourcePart]:
    model = _load_json(model_blob, read_text)
    folder = posixpath.dirname(model_blob)
    entities = model.get("entities") if isinstance(model, dict) else None
    if not entities:
        raise _Problem("model.json lists no entities")
    parts: list[SourcePart] = []
    for entity in entities:
        name = str(entity.get("name", ""))
        columns = tuple(str(a.get("name", "")) for a in entity.get("attributes") or [])
        if not columns or not all(columns):
            parts.append(SourcePart(segment, model_blob, "cdm", problem=f"entity {name!r} has no attribute names"))
            continue
        for partition in entity.get("partitions") or []:
            settings = partition.get("fileFormatSettings") or {}
            parts.append(
                _partition(
                    segment,
                    name,
                    str(partition.get("location", "")),
                    folder,
                    names,
                    model_blob,
                    columns=columns,
                    delimiter=str(settings.get("delimiter") or settings.get("csvDelimiter") or ","),
                    has_header=bool(settings.get("columnHeaders", settings.get("csvHeader", False))),
                )
            )
    return parts


def _entity_definition(path: str) -> tuple[str, str]:
    """(definition document, entity name) of an ``entityPath`` such as ``local:/Customer.cdm.json/Customer``."""
    if "://" not in path:
        path = _NAMESPACE.sub("", path, count=1)
    if path.endswith(".cdm.json"):
        return path, ""
    document, _, entity = path.rpartition("/")
    return document, entity


def _parts_from_manifest(
    segment: str, manifest_blob: str, names: Sequence[str], read_text: Callable[[str], str]
) -> list[SourcePart]:
    manifest = _load_json(manifest_blob, read_text)
    folder = posixpath.dirname(manifest_blob)
    entities = manifest.get("entities") if isinstance(manifest, dict) else None
    if not entities:
        raise _Problem("the manifest lists no entities")
    parts: list[SourcePart] = []
    for entity in entities:
        path = str(entity.get("entityPath", ""))
        label = str(entity.get("entityName") or path)
        document, entity_name = _entity_definition(path)
        definition_blob = resolve(document, folder, names) if document else None
        if definition_blob is None:
            parts.append(
                SourcePart(
                    segment,
                    manifest_blob,
                    "cdm",
                    problem=f"entity {label!r}: its definition {path!r} is not a file of the segment folder "
                    f"{segment!r}",
                )
            )
            continue
        try:
            definition = _load_json(definition_blob, read_text)
        except _Problem as problem:
            parts.append(_unusable(segment, definition_blob, problem))
            continue
        columns: tuple[str, ...] = ()
        for item in (definition.get("definitions") if isinstance(definition, dict) else None) or []:
            if not entity_name or item.get("entityName") == entity_name:
                columns = tuple(
                    str(a.get("name", "")) if isinstance(a, dict) else "" for a in item.get("hasAttributes") or []
                )
                break
        if not columns or not all(columns):
            parts.append(
                SourcePart(segment, definition_blob, "cdm", problem=f"entity {label!r} has no attribute names")
            )
            continue
        for partition in entity.get("dataPartitions") or []:
            arguments = _csv_arguments(partition)
            parts.append(
                _partition(
                    segment,
                    label,
                    str(partition.get("location", "")),
                    folder,
                    names,
                    manifest_blob,
                    columns=columns,
                    delimiter=arguments.get("delimiter", ","),
                    has_header=arguments.get("columnHeaders", "false").lower() == "true",
                )
            )
        for pattern in entity.get("dataPartitionPatterns") or []:
            arguments = _csv_arguments(pattern)
            files = _pattern_files(pattern, folder, names)
            if not files:
                # A pattern that selects nothing would read as an empty entity (and, in mirror mode, as
                # every contact removed): hold it back, naming it, instead.
                where = "its root is not a folder of" if files is None else "it matches no file in"
                message = (
                    f"entity {label!r}: data partition pattern {pattern.get('name') or ''!r} selects nothing "
                    f"({where} the segment folder {segment!r})"
                )
                parts.append(SourcePart(segment, manifest_blob, "cdm", problem=message))
                continue
            for blob in files:
                parts.append(
                    SourcePart(
                        segment,
                        blob,
                        "cdm_csv",
                        columns=columns,
                        delimiter=arguments.get("delimiter", ","),
                        has_header=arguments.get("columnHeaders", "false").lower() == "true",
                    )
                )
    return parts


def _csv_arguments(partition: dict[str, Any]) -> dict[str, str]:
    """The ``is.partition.format.CSV`` trait's arguments (delimiter, columnHeaders...)."""
    arguments: dict[str, str] = {}
    for trait in partition.get("exhibitsTraits") or []:
        if isinstance(trait, dict) and trait.get("traitReference") == "is.partition.format.CSV":
            for argument in trait.get("arguments") or []:
                arguments[str(argument.get("name"))] = str(argument.get("value"))
    return arguments
