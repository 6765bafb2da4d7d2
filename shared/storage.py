"""Blob access: configuration documents with ETags, segment streams, staging, snapshots and run files.

Layout of the service's container (``EXPORT_CONTAINER``)::

    config/connections/{id}.json         connection documents (secret *names* only)
    config/exports/{id}.json             export documents
    runs/{export}/{run}/...              plan, staging, diff, checkpoints, results, report, rejected rows
    snapshots/{export}/current.json      manifest of the last committed snapshot (points into a run)

Segments are read from ``EXPORT_SEGMENTS_CONTAINER``. Writes of documents people edit carry
If-Match, so two admins editing at once cannot lose an update.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, BlobServiceClient, ContainerClient

from shared.errors import ConcurrencyConflict, NotFound
from shared.overlap import Background, ReadAhead, in_order
from shared.settings import Settings

# Downloads come in 4 MB pieces (the SDK's first GET is 32 MB by default): a worker streaming a segment
# holds one piece, not a third of a large file.
PIECE = 4 * 1024 * 1024
FIRST_PIECE = 1024 * 1024  # a stream's first request (see ``BlobStore.open_stream``)
# The Blob Batch API's limit of subrequests per batch request.
BATCH_DELETE_MAX = 256


def service_client(settings: Settings) -> BlobServiceClient:
    """A client from a connection string (Azurite) or the account URL with managed identity."""
    if settings.storage_connection_string is not None:
        return BlobServiceClient.from_connection_string(
            settings.storage_connection_string.get_secret_value(), max_single_get_size=PIECE, max_chunk_get_size=PIECE
        )
    from azure.identity import DefaultAzureCredential  # only in Azure: keeps local start-up light

    assert settings.storage_account_url is not None
    return BlobServiceClient(
        settings.storage_account_url,
        credential=DefaultAzureCredential(),
        max_single_get_size=PIECE,
        max_chunk_get_size=PIECE,
    )


class _ChunkStream(io.RawIOBase):
    """A read-only stream over a blob download, one chunk at a time (plus what a read-ahead holds).

    The chunk is read through a memoryview and an offset: slicing the bytes themselves would copy the
    rest of a 4 MB chunk on every small read (quadratic in the number of reads per chunk)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")
        self._offset = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        stop = getattr(self._chunks, "close", None)
        if stop is not None:
            stop()  # a read-ahead stops downloading
        super().close()

    def readinto(self, target: Any) -> int:
        while self._offset >= len(self._view):
            try:
                self._view = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            self._offset = 0
        size = min(len(target), len(self._view) - self._offset)
        target[:size] = self._view[self._offset : self._offset + size]
        self._offset += size
        return size


class BlockWriter:
    """Streams a large blob up in blocks so a writer holds at most ``threshold`` bytes plus the blocks
    still uploading (two at most: each is staged in the background while the writer goes on).

    Rewriting the same blob from the start (a retried activity) simply replaces it on ``close``, which
    commits only after every block is staged (and raises the first failure instead of committing).
    """

    def __init__(self, container: ContainerClient, name: str, threshold: int = 4 * 1024 * 1024) -> None:
        self._blob = container.get_blob_client(name)
        self._threshold = threshold
        self._parts: list[bytes] = []
        self._size = 0
        self._blocks: list[BlobBlock] = []
        self._uploads = Background(window=2)
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= self._threshold:
            self._flush()

    def _flush(self) -> None:
        if not self._parts:
            return
        block_id = f"{len(self._blocks):08d}"
        payload = b"".join(self._parts)
        self._uploads.submit(self._blob.stage_block, block_id, payload)
        self._blocks.append(BlobBlock(block_id=block_id))
        self.bytes_written += len(payload)
        self._parts, self._size = [], 0

    def close(self) -> None:
        if not self._blocks:
            # Small blobs: one request instead of stage + commit.
            payload = b"".join(self._parts)
            self._blob.upload_blob(payload, overwrite=True)
            self.bytes_written += len(payload)
            self._parts, self._size = [], 0
            return
        self._flush()
        self._uploads.wait()
        self._blob.commit_block_list(self._blocks)


class BlobStore:
    """One container. Raises NotFound, ConcurrencyConflict; other storage errors propagate as
    azure-core exceptions (the orchestration retries the activity)."""

    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    @classmethod
    def connect(cls, settings: Settings, container_name: str) -> BlobStore:
        return cls(service_client(settings).get_container_client(container_name))

    def ensure_container(self) -> None:
        try:
            self.container.create_container()
        except ResourceExistsError:
            pass

    # ---- documents ------------------------------------------------------------------------------

    def read_json(self, name: str) -> tuple[Any, str]:
        """The parsed document and its ETag. Raises NotFound."""
        try:
            downloader = self.container.get_blob_client(name).download_blob()
            data = downloader.readall()
        except ResourceNotFoundError:
            raise NotFound(f"{name} does not exist") from None
        return orjson.loads(data), str(downloader.properties.etag)

    def read_documents(self, names: Sequence[str], window: int = 8) -> list[Any]:
        """The parsed documents ``names``, in order, ``window`` read at a time: a run's step results are
        dozens of small blobs, and one after another their round trips are most of the step reading them.
        Raises NotFound."""
        return list(in_order(lambda name: self.read_json(name)[0], names, window=window))

    def read_json_or_none(self, name: str) -> Any:
        try:
            return self.read_json(name)[0]
        except NotFound:
            return None

    def write_json(self, name: str, document: Any, *, if_match: str | None = None, create_only: bool = False) -> str:
        """Write a document; with ``if_match`` only over that ETag, with ``create_only`` only if absent.

        Returns the new ETag. Raises ConcurrencyConflict when the condition does not hold.
        """
        blob = self.container.get_blob_client(name)
        payload = orjson.dumps(document, option=orjson.OPT_INDENT_2)
        kwargs: dict[str, Any] = {"overwrite": True}
        if if_match is not None:
            kwargs.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
        elif create_only:
            kwargs["overwrite"] = False  # sends If-None-Match: *
        try:
            result = blob.upload_blob(payload, **kwargs)
        except (ResourceModifiedError, ResourceExistsError):
            raise ConcurrencyConflict(
                f"{name} was changed by someone else; reload it and apply the edit again"
            ) from None
        except ResourceNotFoundError:
            raise NotFound(f"{name} does not exist") from None
        return str(result["etag"])

    # ---- bytes and streams ----------------------------------------------------------------------

    def write_bytes(self, name: str, data: bytes) -> None:
        self.container.get_blob_client(name).upload_blob(data, overwrite=True)

    def read_bytes(self, name: str) -> bytes:
        try:
            return bytes(self.container.get_blob_client(name).download_blob().readall())
        except ResourceNotFoundError:
            raise NotFound(f"{name} does not exist") from None

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (one ranged download): fewer when the blob ends first, none
        from its end on, as a file would. Raises NotFound, ValueError for a negative offset or length."""
        if offset < 0 or length < 0:
            raise ValueError(f"a range needs a non-negative offset and length, not {offset} and {length}")
        if length == 0:
            if not self.exists(name):
                raise NotFound(f"{name} does not exist")
            return b""
        try:
            downloader = self.container.get_blob_client(name).download_blob(offset=offset, length=length)
            return bytes(downloader.readall())
        except ResourceNotFoundError:
            raise NotFound(f"{name} does not exist") from None
        except HttpResponseError as exc:
            if exc.status_code == 416:  # InvalidRange: the range starts past the blob's last byte
                return b""
            raise

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Iterator[bytes]:
        """``read_range`` of each (name, offset, length), in order, a few downloading ahead of the reader."""
        return in_order(lambda r: self.read_range(*r), ranges)

    def read_bytes_or_none(self, name: str) -> bytes | None:
        try:
            return self.read_bytes(name)
        except NotFound:
            return None

    def open_stream(self, name: str) -> io.BufferedReader:
        """A buffered streaming reader (one chunk in memory). Raises NotFound; ResourceModifiedError
        when the blob is replaced while it is read (every piece after the first asks for its ETag).

        The first piece is small (``FIRST_PIECE``), so the reader starts parsing after one short request,
        not after a whole 4 MB piece (at 1M profiles, 17 such waits were 0.3 s of staging); the rest
        downloads a 4 MB piece ahead of the reader."""
        blob = self.container.get_blob_client(name)
        try:
            first = blob.download_blob(offset=0, length=FIRST_PIECE)
        except ResourceNotFoundError:
            raise NotFound(f"{name} does not exist") from None
        except HttpResponseError as exc:
            if exc.status_code != 416:  # InvalidRange: the blob is empty
                raise
            return io.BufferedReader(_ChunkStream(iter(())), buffer_size=1024 * 1024)
        head, etag = bytes(first.readall()), first.properties.etag

        def pieces() -> Iterator[bytes]:
            yield head
            if len(head) < FIRST_PIECE:
                return  # the whole blob
            try:
                rest = blob.download_blob(offset=FIRST_PIECE, etag=etag, match_condition=MatchConditions.IfNotModified)
            except HttpResponseError as exc:
                if exc.status_code == 416:  # the blob ends where the first piece did
                    return
                raise
            yield from rest.chunks()

        return io.BufferedReader(_ChunkStream(ReadAhead(pieces())), buffer_size=1024 * 1024)

    def download_to_file(self, name: str, target: io.BufferedWriter | Any) -> None:
        try:
            self.container.get_blob_client(name).download_blob().readinto(target)
        except ResourceNotFoundError:
            raise NotFound(f"{name} does not exist") from None

    def block_writer(self, name: str, threshold: int = 4 * 1024 * 1024) -> BlockWriter:
        return BlockWriter(self.container, name, threshold)

    # ---- listing --------------------------------------------------------------------------------

    def list_names(self, prefix: str) -> list[str]:
        return sorted(b.name for b in self.container.list_blobs(name_starts_with=prefix))

    def list_etags(self, prefix: str) -> dict[str, str]:
        """Name → ETag: what a reader needs to know a blob it read before has not changed."""
        return {b.name: str(b.etag) for b in self.container.list_blobs(name_starts_with=prefix)}

    def list_sizes(self, prefix: str) -> dict[str, int]:
        return {b.name: int(b.size) for b in self.container.list_blobs(name_starts_with=prefix)}

    def exists(self, name: str) -> bool:
        return bool(self.container.get_blob_client(name).exists())

    def delete(self, name: str) -> None:
        try:
            self.container.delete_blob(name)
        except ResourceNotFoundError:
            pass

    def delete_names(self, names: Sequence[str]) -> None:
        """Delete ``names`` through the Blob Batch API, up to ``BATCH_DELETE_MAX`` a request (Azurite 3.37
        serves blob batch as Azure does, so local runs take the same path). A missing blob is not an
        error; any other refused delete raises HttpResponseError naming the blobs, after every batch ran."""
        unique = list(dict.fromkeys(names))
        refused: list[str] = []
        for start in range(0, len(unique), BATCH_DELETE_MAX):
            batch = unique[start : start + BATCH_DELETE_MAX]
            answers = self.container.delete_blobs(*batch, raise_on_any_failure=False)
            for name, answer in zip(batch, answers, strict=True):
                if answer.status_code >= 300 and answer.status_code != 404:
                    refused.append(f"{name} (HTTP {answer.status_code})")
        if refused:
            raise HttpResponseError(f"{len(refused)} blob(s) could not be deleted: {', '.join(refused[:10])}")

    def delete_prefix(self, prefix: str) -> None:
        self.delete_names(self.list_names(prefix))
