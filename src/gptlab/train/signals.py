"""Stopping a run cleanly: the first SIGINT/SIGTERM asks the loop to stop at the next
unit boundary, with a checkpoint; a second stops at once."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopNow(BaseException):
    """A second SIGINT/SIGTERM: stop without finishing the checkpoint under way (a
    BaseException, so that no ``except Exception`` in a run swallows it)."""


class StopRequests:
    """While active, SIGINT and SIGTERM only set ``requested``: the loop stops at the next
    unit boundary with a checkpoint instead of dying mid-step. A second one raises
    :class:`StopNow` at once: temporary files are removed on the way out and the previous
    checkpoint stays, so the run still resumes."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self.handle)
        return self

    def handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # asked twice: stop now
            raise StopNow
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}
