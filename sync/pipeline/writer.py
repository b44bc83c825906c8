"""Writing batches in a thread of their own, one at a time and in order, while the next is read."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class OrderedWriter(Generic[Job, Result]):
    """Runs one write at a time in one thread; the caller takes each result before the next.

    A batch's write is mostly the database's work, during which the driver releases the GIL:
    meanwhile the caller reads, splits and maps the next batch on the other core. Only one
    write is ever under way, and the caller takes its outcome (or its error) before submitting
    the next, so batches still commit strictly in order and a crash loses at most the batch
    being written, as when every batch was written in turn.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch-writer")
        self._job: Job | None = None
        self._future: Future[Result] | None = None

    @property
    def in_flight(self) -> Job | None:
        """The job being written, until its outcome is taken."""
        return self._job

    def submit(self, job: Job, write: Callable[[], Result]) -> None:
        """Start writing `job`; its outcome must have been taken for the one before."""
        if self._future is not None:
            raise RuntimeError("the previous write's outcome has not been taken")
        # The thread runs with the caller's context, so the run's bound log fields (run id,
        # source, stream) are on the lines logged while writing too.
        context = contextvars.copy_context()
        self._future = self._pool.submit(context.run, write)
        self._job = job

    def take(self) -> tuple[Job, Result] | None:
        """Wait for the write under way: its job and result, or its error raised here; None if idle."""
        job, future = self._job, self._future
        if job is None or future is None:
            return None
        # Cleared first: whether it succeeded or raised, this write's outcome is taken once.
        self._job, self._future = None, None
        return job, future.result()

    def __enter__(self) -> OrderedWriter[Job, Result]:
        return self

    def __exit__(self, *_exc: object) -> None:
        # The thread ends after the write under way, if any: nothing writes once the run is over.
        self._pool.shutdown(wait=True)
