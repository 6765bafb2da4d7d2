"""Activities sharing a rate limit smaller than their number do not all send their first request at once."""

from __future__ import annotations

import asyncio
import time

from destinations.base import RateLimit
from shared.pipeline.pacing import _share_of


async def test_activities_sharing_a_small_limit_take_turns_from_the_first_request() -> None:
    # 2 requests a second shared by 4 activities: one request each per 2 s, started 0.5 s apart.
    limit = RateLimit(2, 1.0)
    windows = [_share_of(limit, 1 / 4, time_scale=0.05, phase=i / 4) for i in range(4)]
    started = time.monotonic()
    waited = []
    for window in windows:
        await window.wait()
        waited.append(time.monotonic() - started)
    window_seconds = windows[0].seconds  # 2 s × 0.05 scale × safety margin
    for i, seconds in enumerate(waited):
        assert seconds >= i / 4 * window_seconds - 0.005, waited
    # Together they keep the vendor's rate: 4 first requests spread over one shared window, not at once.
    assert waited[-1] >= 0.75 * window_seconds - 0.005


def test_phase_zero_and_shares_of_a_whole_request_or_more_start_at_once() -> None:
    # Nothing waits before the first request: no stamp is in the window yet.
    assert not _share_of(RateLimit(2, 1.0), 1 / 4, time_scale=0.05).stamps
    assert not _share_of(RateLimit(100, 1.0), 1 / 4, time_scale=0.05, phase=0.5).stamps  # 25 each per window
    staggered = _share_of(RateLimit(2, 1.0), 1 / 4, time_scale=0.05, phase=0.5)
    assert staggered.first_delay == staggered.seconds * 0.5


async def test_the_stagger_counts_from_the_first_request_not_from_when_the_window_was_made() -> None:
    # Activities that spend longer than a window getting ready (reading, encoding) still take turns:
    # each one's first request waits its phase from the moment it asks, not from its creation.
    limit = RateLimit(2, 1.0)
    windows = [_share_of(limit, 1 / 4, time_scale=0.05, phase=i / 4) for i in range(4)]
    await asyncio.sleep(windows[0].seconds * 1.5)  # the phases would all have passed
    for i, window in enumerate(windows):
        started = time.monotonic()
        await window.wait()
        assert time.monotonic() - started >= i / 4 * window.seconds - 0.005
