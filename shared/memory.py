"""How the pipeline's processes allocate memory: environment variables read when a process starts, so they
are app settings (``infra/app/api.bicep``), set for the local worker processes and for the benchmark.

Measured with ``bench.client`` at 1,000,000 profiles (2026-11-26, 2 cores, two runs each):

| allocation                                    | peak RSS        | profiles/s       |
|-----------------------------------------------|-----------------|------------------|
| Arrow's default pool (jemalloc), glibc default | 345 / 349 MB    | 135,491 / 135,703 |
| ``ARROW_DEFAULT_MEMORY_POOL=system``           | 298 / 311 MB    | 140,374 / 147,851 |
| … and ``MALLOC_MMAP_THRESHOLD_=1048576``       | 272 / 273 MB    | 135,543 / 139,435 |
| … with a 131072 threshold instead              | 237 / 239 MB    | 125,274 / 126,209 |

jemalloc keeps freed pages for reuse; glibc's dynamic mmap threshold rises to 32 MiB after the first large
free, after which every batch-sized buffer stays on the heap when freed. A fixed 1 MiB threshold returns
them at no cost in speed (128 KiB costs 12% in page faults). An Azure Functions instance runs several
activities side by side in one process: what one frees should be given back, not kept.

Setting the pool from Python (``pyarrow.set_memory_pool``) is not the same: it changes only the pool of
pyarrow's Python-level calls, not the C++ default the readers and kernels use (measured: 320–325 MB).

Since storage I/O runs in threads (``shared.overlap``), glibc gives those threads arenas of their own.
``MALLOC_ARENA_MAX=2`` was measured against the settings above once apply read its unit in chunks (two
runs each, 1,000,000 / 100,000 profiles): 240 / 263 MB and 201 / 207 MB, against 249 / 260 MB and
216 / 213 MB without it — within the runs' spread at 1M, so it is not set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

PROCESS_ENVIRONMENT: Mapping[str, str] = {
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "MALLOC_MMAP_THRESHOLD_": "1048576",
}


def with_process_environment(environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environment`` (default: this process's) with the allocation settings, for a process to start."""
    return {**(os.environ if environment is None else environment), **PROCESS_ENVIRONMENT}


def missing_from_this_process() -> list[str]:
    """The allocation settings this process was not started with (empty when all are in effect)."""
    return [name for name, value in PROCESS_ENVIRONMENT.items() if os.environ.get(name) != value]
