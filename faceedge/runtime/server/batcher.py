"""Requests from many clients, batched into the classifier.

One worker thread owns the pipeline. Requests wait in a bounded queue while it works; each time it
comes free it takes every image waiting (up to ``max_images``), finds the faces in each, and
classifies the faces of all of them in one call. A lone client waits for nothing: batches form only
from requests that arrived while the previous batch ran, which is when batching helps.
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

from faceedge.errors import FaceedgeError
from faceedge.runtime.pipeline import FacePipeline, FrameResult

log = logging.getLogger(__name__)


class ServerBusy(FaceedgeError):
    """The queue of images waiting for the pipeline is full."""


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


_STOP = object()


class BatchingAnalyzer:
    """Analyses BGR images with one shared :class:`FacePipeline` (built without tracking), batching
    the images that wait together. ``on_batch`` is called with each batch's size (for metrics)."""

    def __init__(
        self,
        pipeline: FacePipeline,
        max_images: int = 16,
        queue_limit: int = 64,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if pipeline.tracker is not None:
            raise ValueError("the server's pipeline must not track: its images are unrelated")
        self.pipeline = pipeline
        self.max_images = max_images
        self._queue: queue.Queue = queue.Queue(maxsize=queue_limit)
        self._on_batch = on_batch
        self._worker = threading.Thread(target=self._work, name="faceedge-analyzer", daemon=True)
        self._worker.start()

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def submit(self, bgr: np.ndarray) -> Future:
        """Queue one BGR uint8 image; the future gives its :class:`Analysis`.

        Raises:
            ServerBusy: the queue is full.
        """
        job = _Job(bgr, Future(), time.perf_counter())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ServerBusy(f"{self._queue.maxsize} images are already waiting; try again shortly") from None
        return job.future

    def close(self) -> None:
        """Finish the queued images, stop the worker and free the pipeline."""
        self._queue.put(_STOP)
        self._worker.join()
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
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        frames = [(job.bgr, 0, f"request-{k}") for k, job in enumerate(jobs)]
        try:
            results = self.pipeline.process_streams(frames)
        except Exception as exc:  # handed to every waiting request, which answers 500 with it
            log.exception("the pipeline failed on a batch of %d images", len(jobs))
            for job in jobs:
                job.future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(jobs))
        for job, result in zip(jobs, results):
            job.future.set_result(Analysis(result, len(jobs), 1000 * (started - job.queued_at)))
