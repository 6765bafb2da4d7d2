"""What each vendor package declares besides its adapter: the demo's field mapping, the contract suite's
vendor-specific case and the benchmark's figures. Tools read them from here (``vendor_profile``), so a
sixth vendor brings its own and no list elsewhere needs an edit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from destinations.base import Contact


@dataclass(frozen=True)
class ContractCase:
    """What the shared contract suite needs to know about one vendor."""

    attributes: tuple[str, ...]  # the mapping the suite's adapter is built with
    refused: Contact  # the vendor refuses this one for a stated reason (→ rejected)
    refused_reason: str  # a fragment of the reason the adapter must pass on
    has_lists: bool = True  # Omnisend has tags instead: an unknown tag is not an error
    fields: tuple[tuple[str, str], ...] = ()  # custom fields (name, type) the case needs in the vendor


@dataclass(frozen=True)
class BenchFigures:
    """Figures the benchmark simulates with (seconds before time scaling)."""

    latency: float  # per request: a realistic figure for a batch call
    job_delay: float = 0.0  # asynchronous processing per job: undocumented by every vendor, so modest
    documented_1m: str = ""  # what the export documentation this product replaces states for 1M profiles


@dataclass(frozen=True)
class VendorProfile:
    demo_mapping: Mapping[str, str]  # segment column → product attribute, for the demo and the benchmark
    contract: ContractCase
    bench: BenchFigures
    notes: tuple[str, ...] = field(default_factory=tuple)
