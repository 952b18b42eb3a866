"""The sandbox's session engine, built by composition (see :mod:`didit_portal.sandbox.engine.engine`).

Synchronous and storage-backed: the HTTP routes call it from the event loop, the hosted pages from a threadpool.
"""

from didit_portal.sandbox.engine.engine import SandboxEngine
from didit_portal.sandbox.engine.rows import Session

__all__ = ["SandboxEngine", "Session"]
