"""Requests from many clients, batched into the classifier.

One worker thread owns the pipeline. Requests wait in a bounded queue while it works; each time it
comes free it takes every image waiting (up to ``max_images``), finds the faces in each, and
classifies the faces of all of them in one call. A lone client waits for nothing: batches form only
from requests that arrived while the previous batch ran, which is when batching helps.

What may wait is bounded twice, by count (``queue_limit``) and by decoded pixels (``pixel_budget``),
so that memory stays bounded however many clients send large images at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from faceedge.errors import ServerBusy
from faceedge.runtime.pipeline import FacePipeline, FrameResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Analysis:
    """One image's faces, how many images shared its classifier call, and how long it queued."""

    result: FrameResult
    batch_images: int
    queued_ms: float


@dataclass
class _Job:
    bgr: np.ndarray
    future: Future
    queued_at: float

    @property
    def pixels(self) -> int:
        return self.bgr.shape[0] * self.bgr.shape[1]


_STOP = object()


class BatchingAnalyzer:
    """Analyses BGR images with one shared :class:`FacePipeline` (built without tracking), batching
    the images that wait together. ``on_batch`` is called with each batch's size (for metrics).
    An image is always admitted when nothing waits, whatever its size.

    The worker starts at once; :meth:`stop` and :meth:`start` pause and resume it (an ASGI app's
    lifespan), :meth:`close` stops it for good and frees the pipeline."""

    def __init__(
        self,
        pipeline: FacePipeline,
        max_images: int = 16,
        queue_limit: int = 64,
        pixel_budget: int = 100_000_000,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if pipeline.tracker is not None:
            raise ValueError("the server's pipeline must not track: its images are unrelated")
        self.pipeline = pipeline
        self.max_images = max_images
        self.pixel_budget = pixel_budget
        self._queue: queue.Queue = queue.Queue(maxsize=queue_limit)
        self._pixels = 0  # decoded pixels admitted and not yet answered
        self._lock = threading.Lock()
        self._on_batch = on_batch
        self._worker: threading.Thread | None = None
        self._stopped = True
        self.start()

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    @property
    def alive(self) -> bool:
        return self._worker is not None and self._worker.is_alive() and not self._stopped

    def start(self) -> None:
        """Run the worker (nothing happens when it runs already)."""
        with self._lock:
            if self.alive:
                return
            self._stopped = False
            self._worker = threading.Thread(target=self._work, name="faceedge-analyzer", daemon=True)
            self._worker.start()

    def submit(self, bgr: np.ndarray) -> Future:
        """Queue one BGR uint8 image; the future gives its :class:`Analysis`.

        Raises:
            ServerBusy: the queue or the pixel budget is full, or the analyzer is closed.
        """
        job = _Job(bgr, Future(), time.perf_counter())
        with self._lock:
            if not self.alive:
                raise ServerBusy("the server's pipeline is not running (shutting down)")
            if self._pixels and self._pixels + job.pixels > self.pixel_budget:
                raise ServerBusy(
                    f"{self._pixels / 1e6:.1f} million pixels are already waiting; try again shortly"
                )
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise ServerBusy(
                    f"{self._queue.maxsize} images are already waiting; try again shortly"
                ) from None
            self._pixels += job.pixels
        return job.future

    def stop(self) -> None:
        """Answer the images already queued, then stop the worker; new images are refused."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True  # under the lock: every image admitted before is queued before _STOP
        self._queue.put(_STOP)
        if self._worker is not None:
            self._worker.join()

    def close(self) -> None:
        """Stop the worker for good and free the pipeline."""
        self.stop()
        self.pipeline.close()

    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs = [first]
            while len(jobs) < self.max_images:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                jobs.append(job)
            try:
                self._run(jobs)
            except BaseException as exc:  # never leave a request waiting, whatever went wrong
                log.exception("the analyzer failed on a batch of %d images", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                with self._lock:
                    self._pixels -= sum(job.pixels for job in jobs)

    def _run(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        try:
            results = self._process(jobs)
        except Exception:
            if len(jobs) == 1:
                raise
            # One image must not fail the others that shared its batch: each again, on its own.
            log.warning("a batch of %d images failed; analysing them one by one", len(jobs))
            for job in jobs:
                try:
                    (result,) = self._process([job])
                except Exception as exc:  # handed to that request, which answers 500 with it
                    job.future.set_exception(exc)
                else:
                    job.future.set_result(Analysis(result, 1, 1000 * (started - job.queued_at)))
            return
        if self._on_batch is not None:
            self._on_batch(len(jobs))
        for job, result in zip(jobs, results):
            job.future.set_result(Analysis(result, len(jobs), 1000 * (started - job.queued_at)))

    def _process(self, jobs: list[_Job]) -> list[FrameResult]:
        return self.pipeline.process_streams([(job.bgr, 0, f"request-{k}") for k, job in enumerate(jobs)])
