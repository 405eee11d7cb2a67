"""A queue served by one daemon thread: what the micro-batcher and the group committer share.

The subclass keeps its queue under ``_ready`` (a condition it notifies when work arrives), checks ``_closed``
before taking new work, and implements ``_run``, which drains the queue and returns once it is closed and
empty. ``close()`` stops taking work and, with ``wait``, returns once the thread has finished what it holds.
"""

from __future__ import annotations

import threading


class QueueWorker:
    def __init__(self, name: str, *, start: bool) -> None:
        self._ready = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        if start:
            # A daemon thread: a process that exits without closing it (a test, a crash) is not held up by it.
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Stop taking work; the thread finishes what is already queued, then ends. ``wait``: until it has.

        Idempotent. Later callers do their work themselves, in their own thread."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
