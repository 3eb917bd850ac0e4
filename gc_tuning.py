"""Garbage collection for the long-running processes, the gateway and the worker.

Under load py-spy put CPython's cyclic collector at about a quarter of the gateway's CPU
(bench/README.md, "Where the time goes"): a young collection every 700 allocations, and
every so often a full one that walks every object the process holds, most of them the
imported modules, the parsed definitions and the directory, which live as long as the
process. Once a process has started they are frozen (taken out of the collector's sight,
`gc.freeze`), and the young generation is larger, so that the objects of one request or
workflow task mostly die by reference counting before a collection has to look at them.
Reference cycles are still collected, only less often.

A worker needs one thing more. A workflow instance the SDK evicts from its cache (to make
room for another case) is held together by reference cycles (its event loop, tasks and
coroutines), and it is old: it sits in the oldest generation, which a full collection
alone frees, and full collections are triggered by objects newly promoted there, not by
objects dying there. With a thousand cases cached and ten thousand open, a worker held
3,000 dead instances after 3,000 cases and grew by about 190 KB per case without bound
(bench/open_cases.py). `EvictionCollector` counts the instances the worker creates and
runs a full collection, on a thread of its own, after every so many: as many as were
created can have been evicted.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

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


log = logging.getLogger("casework.worker")


class EvictionCollector:
    """A full collection after every `every` workflow instances created (`created`)."""

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self.collections = 0
        self._created = 0
        self._lock = threading.Lock()
        self._due = threading.Event()
        threading.Thread(target=self._collect_when_due, name="eviction-collector", daemon=True).start()

    def created(self) -> None:
        with self._lock:
            self._created += 1
            if self._created < self.every:
                return
            self._created = 0
        self._due.set()

    def _collect_when_due(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            started = time.perf_counter()
            freed = gc.collect()
            self.collections += 1
            log.debug("full collection after %d new workflow instances: %d objects freed in %.3f s",
                      self.every, freed, time.perf_counter() - started)


_COLLECTOR: EvictionCollector | None = None


def eviction_collector(every: int) -> EvictionCollector:
    """The process's one collector (a process may run several workers: the tests do), at the
    shortest interval asked for."""
    global _COLLECTOR
    if _COLLECTOR is None:
        _COLLECTOR = EvictionCollector(every)
    _COLLECTOR.every = min(_COLLECTOR.every, max(1, every))
    return _COLLECTOR
