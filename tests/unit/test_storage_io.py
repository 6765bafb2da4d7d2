"""BlobStore's byte paths against a real Azurite: streaming reads, ranged reads, batch deletes."""

from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from shared.errors import NotFound
from shared.storage import BATCH_DELETE_MAX, FIRST_PIECE, PIECE, BlobStore, _ChunkStream


def test_chunk_stream_small_reads_return_every_byte_across_chunk_edges() -> None:
    chunks = [b"abcdefg", b"", b"h", b"ijklmnopqrstuvwxyz" * 3]
    stream = _ChunkStream(iter(chunks))
    got = bytearray()
    target = bytearray(5)
    while size := stream.readinto(target):
        assert 0 < size <= 5
        got += target[:size]
    assert bytes(got) == b"".join(chunks)
    assert stream.readinto(target) == 0  # stays at the end


def test_chunk_stream_reads_never_cross_a_chunk_and_fill_to_the_chunk_end() -> None:
    stream = _ChunkStream(iter([b"0123456789", b"ab"]))
    target = bytearray(4)
    sizes = []
    while size := stream.readinto(target):
        sizes.append(size)
    assert sizes == [4, 4, 2, 2]


def test_open_stream_reads_a_multi_piece_blob_line_by_line(blob_store: BlobStore) -> None:
    lines = [f"{i:07d},{'x' * (i % 97)}\n".encode() for i in range(120_000)]
    data = b"".join(lines)
    assert len(data) > PIECE  # more than one downloaded piece
    blob_store.write_bytes("s/segment.csv", data)
    with blob_store.open_stream("s/segment.csv") as stream:
        assert list(io.TextIOWrapper(stream, encoding="utf-8", newline="")) == [line.decode() for line in lines]


def test_read_range_is_the_slice_and_stops_at_the_blobs_end(blob_store: BlobStore) -> None:
    data = os.urandom(10_000)
    blob_store.write_bytes("r/blob.bin", data)
    assert blob_store.read_range("r/blob.bin", 0, 10) == data[:10]
    assert blob_store.read_range("r/blob.bin", 1234, 4321) == data[1234:5555]
    assert blob_store.read_range("r/blob.bin", 9_990, 100) == data[9_990:]
    assert blob_store.read_range("r/blob.bin", 500, 0) == b""
    assert blob_store.read_range("r/blob.bin", 10_000, 5) == b""
    assert blob_store.read_range("r/blob.bin", 20_000, 5) == b""
    blob_store.write_bytes("r/empty.bin", b"")
    assert blob_store.read_range("r/empty.bin", 0, 5) == b""


def test_read_range_of_a_missing_blob_or_a_negative_range_raises(blob_store: BlobStore) -> None:
    with pytest.raises(NotFound, match=r"r/missing\.bin"):
        blob_store.read_range("r/missing.bin", 0, 10)
    with pytest.raises(NotFound):
        blob_store.read_range("r/missing.bin", 0, 0)
    with pytest.raises(ValueError, match="non-negative"):
        blob_store.read_range("r/missing.bin", -1, 10)


def _write_many(store: BlobStore, names: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: store.write_bytes(name, name.encode()), names))


def _spy_batches(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of blobs in each batch request ``store`` sends; a single delete fails the test."""
    sizes: list[int] = []
    real = store.container.delete_blobs

    def delete_blobs(*blobs: Any, **kwargs: Any) -> Any:
        sizes.append(len(blobs))
        return real(*blobs, **kwargs)

    def no_single_delete(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a blob was deleted one by one")

    monkeypatch.setattr(store.container, "delete_blobs", delete_blobs)
    monkeypatch.setattr(store.container, "delete_blob", no_single_delete)
    return sizes


def test_delete_names_batches_at_most_256_and_ignores_missing_blobs(
    blob_store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = [f"runs/e/r1/part-{i:04d}" for i in range(300)]
    kept = ["runs/e/r2/part-0000", "snapshots/e/current.json"]
    _write_many(blob_store, doomed + kept)
    sizes = _spy_batches(blob_store, monkeypatch)
    blob_store.delete_names([*doomed, "runs/e/r1/never-written", doomed[0]])
    assert sizes == [BATCH_DELETE_MAX, 301 - BATCH_DELETE_MAX]  # the repeated name is sent once
    assert blob_store.list_names("") == sorted(kept)
    blob_store.delete_names(["runs/e/r1/never-written"])  # nothing there: still no error
    blob_store.delete_names([])
    assert sizes == [BATCH_DELETE_MAX, 301 - BATCH_DELETE_MAX, 1]


def test_delete_prefix_deletes_only_under_the_prefix_in_batches(
    blob_store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_many(blob_store, [f"runs/e/r1/staging/{i}" for i in range(5)] + ["runs/e/r10/plan.json"])
    sizes = _spy_batches(blob_store, monkeypatch)
    blob_store.delete_prefix("runs/e/r1/")
    assert sizes == [5]
    assert blob_store.list_names("runs/") == ["runs/e/r10/plan.json"]


def test_a_refused_delete_raises_naming_the_blob_after_deleting_the_others(blob_store: BlobStore) -> None:
    _write_many(blob_store, ["d/free-1", "d/leased", "d/free-2"])
    lease = blob_store.container.get_blob_client("d/leased").acquire_lease(lease_duration=-1)
    try:
        with pytest.raises(HttpResponseError, match=r"d/leased \(HTTP 412\)"):
            blob_store.delete_names(["d/free-1", "d/leased", "d/free-2"])
        assert blob_store.list_names("d/") == ["d/leased"]
    finally:
        lease.release()


def test_block_writer_uploads_blocks_in_the_background_and_commits_them_in_order(blob_store: BlobStore) -> None:
    pieces = [os.urandom(100_000) + bytes([i]) for i in range(12)]
    writer = blob_store.block_writer("w/big.bin", threshold=250_000)
    for piece in pieces:
        writer.write(piece)
    writer.close()
    assert blob_store.read_bytes("w/big.bin") == b"".join(pieces)
    assert writer.bytes_written == sum(map(len, pieces))


def test_block_writer_commits_nothing_when_a_block_upload_fails(
    blob_store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob_store.write_bytes("w/kept.bin", b"the previous version")
    writer = blob_store.block_writer("w/kept.bin", threshold=10)
    calls = 0
    real = writer._blob.stage_block

    def stage_block(block_id: str, data: bytes, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise HttpResponseError("block refused")
        return real(block_id, data, **kwargs)

    monkeypatch.setattr(writer._blob, "stage_block", stage_block)
    with pytest.raises(HttpResponseError, match="block refused"):
        for i in range(5):
            writer.write(b"0123456789" + bytes([i]))
        writer.close()
    assert blob_store.read_bytes("w/kept.bin") == b"the previous version"


def test_read_ranges_gives_each_range_in_order(blob_store: BlobStore) -> None:
    data = os.urandom(50_000)
    blob_store.write_bytes("r/a.bin", data)
    blob_store.write_bytes("r/b.bin", data[::-1])
    ranges = [("r/a.bin", i * 997, 1000) for i in range(30)] + [("r/b.bin", 10, 20), ("r/a.bin", 49_990, 100)]
    expected = [data[o : o + n] if name == "r/a.bin" else data[::-1][o : o + n] for name, o, n in ranges]
    assert list(blob_store.read_ranges(ranges)) == expected
    with pytest.raises(NotFound):
        list(blob_store.read_ranges([("r/a.bin", 0, 5), ("r/missing.bin", 0, 5)]))


def test_a_stream_closed_early_stops_its_read_ahead(blob_store: BlobStore) -> None:
    data = os.urandom(3 * PIECE + 5)
    blob_store.write_bytes("s/large.bin", data)
    stream = blob_store.open_stream("s/large.bin")
    assert stream.read(10) == data[:10]
    stream.close()
    assert not any(t.name == "blob-read-ahead" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize(
    "size", [0, 1, FIRST_PIECE - 1, FIRST_PIECE, FIRST_PIECE + 1, FIRST_PIECE + PIECE, FIRST_PIECE + PIECE + 3]
)
def test_open_stream_gives_every_byte_around_the_first_piece(blob_store: BlobStore, size: int) -> None:
    # The first request asks for FIRST_PIECE bytes, the rest another: a blob that is empty, ends inside,
    # at or just after the first piece, or spans more pieces, reads whole either way.
    data = os.urandom(size)
    blob_store.write_bytes("s/edges.bin", data)
    with blob_store.open_stream("s/edges.bin") as stream:
        assert stream.read() == data


def test_open_stream_of_a_missing_blob_raises_not_found(blob_store: BlobStore) -> None:
    with pytest.raises(NotFound):
        blob_store.open_stream("s/missing.bin")
