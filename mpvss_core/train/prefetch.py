"""Prepare the next training batches in background threads while the current step runs.

A batch is a pure function of its step's random generator (`step_rng(seed, step, rank)`), so a batch
made ahead, in another thread, is the same batch the step would have made itself: prefetching changes
when batches are made, never which. Threads (not processes) suffice because the expensive parts —
JPEG decoding, OpenCV resizes and numpy copies — release the GIL, and the decoded-frame cache stays
shared. On a 2-core CPU the model step already uses the cores, so the default is 0 (no threads); on a
GPU the data path would otherwise leave it waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

import numpy as np

from .data import step_rng

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """`get(step)` -> `make(step_rng(seed, step, rank))`, with the next `threads` steps made ahead."""

    def __init__(self, make: Callable[[np.random.Generator], T], seed: int, rank: int, threads: int) -> None:
        self.make, self.seed, self.rank, self.threads = make, seed, rank, threads
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="batch") if threads > 0 else None
        self.pending: dict[int, Future[T]] = {}

    def _submit(self, step: int) -> None:
        if self.pool is not None and step not in self.pending:
            self.pending[step] = self.pool.submit(self.make, step_rng(self.seed, step, self.rank))

    def get(self, step: int) -> T:
        if self.pool is None:
            return self.make(step_rng(self.seed, step, self.rank))
        for s in list(self.pending):  # a resume or a jump: drop batches of other steps
            if not step <= s <= step + self.threads:
                self.pending.pop(s).cancel()
        for s in range(step, step + self.threads + 1):
            self._submit(s)
        return self.pending.pop(step).result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pending.clear()
