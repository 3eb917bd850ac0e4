"""Garbage collection for the long-running processes, the gateway and the worker.

Under load py-spy put CPython's cyclic collector at about a quarter of the gateway's CPU
(bench/README.md, "Where the time goes"): a young collection every 700 allocations, and
every so often a full one that walks every object the process holds, most of them the
imported modules, the parsed definitions and the directory, which live as long as the
process. Once a process has started they are frozen (taken out of the collector's sight,
`gc.freeze`), and the young generation is larger, so that the objects of one request or
workflow task mostly die by reference counting before a collection has to look at them.
Reference cycles are still collected, only less often.
"""

from __future__ import annotations

import gc

# Allocations between young collections (CPython's default is 700), and young collections
# per older one (its default is 10 for each).
THRESHOLDS = (20_000, 20, 20)
DEFAULTS = gc.get_threshold()


def settle() -> None:
    """Call once the process has started (modules imported, configuration loaded)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def release() -> None:
    """Undo `settle` when a gateway stops inside a process that goes on (the tests' in-process
    gateways), so that what it froze can be collected again."""
    gc.unfreeze()
    gc.set_threshold(*DEFAULTS)
