"""Garbage-collector settings for a long-running server process.

CPython's cyclic collector walks every tracked container it manages. After start-up a Reflex worker holds a
large, permanent heap (modules, pydantic/SQLModel classes, the compiled app) that the collector would re-scan at
each full collection, and the default gen-0 threshold (700 allocations) runs a collection every few requests:
each webhook's parsed JSON is hundreds of containers. Measured on the webhook route (bench/webhook_ingest.py,
docs/PERFORMANCE.md): cyclic GC was about half of the route's CPU before this. So, once start-up is over:

* ``gc.freeze()`` moves everything alive to the permanent generation, which collections skip (start-up cycles
  are never garbage anyway);
* the gen-0 threshold is raised so young collections run per tens of requests, not per request. Cycles are
  still collected; memory held by garbage cycles grows by at most the threshold's worth of objects.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

#: (gen0, gen1, gen2) thresholds; CPython's defaults are (700, 10, 10).
THRESHOLDS = (50_000, 20, 20)
_settled = False


def settle_after_startup() -> None:
    """Collect start-up garbage once, freeze the survivors and raise the young-generation threshold.

    Only the first call in a process acts: later ones (an app restarted inside one test process) would freeze
    objects that are not permanent.
    """
    global _settled  # noqa: PLW0603 -- once per process, by design
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    log.debug("gc: %d objects frozen, thresholds %s", gc.get_freeze_count(), THRESHOLDS)
