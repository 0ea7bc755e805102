"""Runs a batch on Ray: workers (actors keeping their models loaded) take videos one at a time.

- :func:`ray_session` joins the cluster at ``--address`` or starts a local Ray with this
  machine's CPUs and GPUs (in a private temp folder, token authentication on, shut down at
  the end); a Ray this process already started is used as it is.
- :func:`plan_workers` turns ``--workers/--cpus-per-worker/--gpus-per-worker`` into Ray
  resources and refuses a plan the cluster cannot place (it would wait forever).
- :class:`BatchRun` hands out the videos, polls the workers' progress, replaces a worker that
  died and gives its video another try (at most ``max_attempts`` analyses per video), and on
  Ctrl-C asks every worker to cancel (the pipeline stops between batches and writes nothing),
  then stops them. The outcome is a :class:`~inference_server.batch.report.BatchSummary`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from ..errors import InvalidRequestError
from ..pipeline import AnalyzeOptions
from .inputs import BatchItem
from .report import BatchSummary, ItemResult
from .settings import BatchSettings
from .worker import VideoWorker, WorkerStatus

log = logging.getLogger(__name__)

#: seconds between looks at the workers (results and progress)
POLL_S = 0.2
#: after Ctrl-C, seconds the workers get to stop cleanly before they are killed
CANCEL_GRACE_S = 20.0
#: seconds to wait for the cluster's address to accept a connection
CONNECT_TIMEOUT_S = 5.0
#: workers replaced at most this many times per planned worker
MAX_REPLACEMENTS_PER_WORKER = 3


@dataclass(frozen=True)
class WorkerPlan:
    workers: int
    cpus: float
    gpus: float
    threads: int


@dataclass(frozen=True)
class BatchProgress:
    """For a progress bar: frames analysed (running videos count their done fraction) of all
    frames known so far, videos finished (done, skipped or failed) of all, and what runs."""

    frames_done: float
    frames_total: int
    videos_done: int
    videos_total: int
    failed: int
    running: tuple[WorkerStatus, ...]


ProgressHook = Callable[[BatchProgress], None]


# --------------------------------------------------------------------------- Ray session


@contextmanager
def ray_session(address: str | None) -> Iterator[str]:
    """Ray connected for the duration of the block; yields a description of the cluster."""
    import ray

    if ray.is_initialized():
        yield "this process's Ray"
        return
    common = {"log_to_driver": False, "configure_logging": True, "logging_level": logging.ERROR}
    if address:
        check_reachable(address)
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InvalidRequestError(
                f"cannot join the Ray cluster at {address} ({str(exc).splitlines()[0]}): is "
                "`ray start --head` running there, and is this the same Ray version?"
            ) from exc
        try:
            yield address
        finally:
            ray.shutdown()
        return
    # Ray opens its temp folder to everyone (0777): keep it inside a private (0700) one
    private = tempfile.mkdtemp(prefix="glot-ray-")
    try:
        ray.init(include_dashboard=False, _temp_dir=os.path.join(private, "ray"), **common)
        try:
            yield "local"
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """For a HOST:PORT address, InvalidRequestError unless something accepts a connection
    there (Ray itself would keep retrying for minutes). "auto" and ray:// are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}): is `ray start "
            "--head` running there, and is its port open to this machine?"
        ) from exc


def plan_workers(settings: BatchSettings, resources: dict[str, float], videos: int) -> WorkerPlan:
    """Workers and their resources; raises InvalidRequestError for a plan that cannot be placed."""
    cpus = float(settings.cpus_per_worker)
    total_cpu, total_gpu = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    gpus = float(settings.gpus_per_worker if settings.gpus_per_worker is not None
                 else (1.0 if total_gpu >= 1 else 0.0))
    if cpus <= 0 or gpus < 0 or (settings.workers is not None and settings.workers < 1):
        raise InvalidRequestError("--workers must be 1 or more, --cpus-per-worker more than 0 "
                                  "and --gpus-per-worker 0 or more")
    fit = int(total_cpu // cpus)
    if gpus > 0:
        fit = min(fit, int(total_gpu // gpus + 1e-9))
    workers = settings.workers if settings.workers is not None else max(1, min(fit, videos))
    if workers > fit:
        raise InvalidRequestError(
            f"{workers} worker(s) with {cpus:g} CPU(s) and {gpus:g} GPU(s) each do not fit the "
            f"cluster's {total_cpu:g} CPU(s) and {total_gpu:g} GPU(s): lower --workers or the "
            "per-worker resources"
        )
    return WorkerPlan(workers, cpus, gpus, threads=max(1, int(cpus)))


def probe_frames(options: AnalyzeOptions) -> int:
    """The number of frames a video's analysis covers, from its header (0 when unknown here)."""
    import cv2

    cap = cv2.VideoCapture(str(options.video))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    stop = count if options.end is None else min(count, options.end)
    return len(range(options.start, max(stop, options.start), max(1, options.stride)))


# --------------------------------------------------------------------------- the run


class BatchRun:
    """One batch over a connected Ray: create workers, hand out videos, collect results."""

    def __init__(self, items: Sequence[BatchItem], template: AnalyzeOptions,
                 settings: BatchSettings, plan: WorkerPlan,
                 progress: ProgressHook | None = None) -> None:
        import ray

        self.ray = ray
        self.items = list(items)
        self.settings = settings
        self.plan = plan
        self.progress = progress
        device = template.device
        if device == "auto" and plan.gpus == 0:
            device = "cpu"  # a worker without a GPU share must not pick up a GPU it sees
        self.template = replace(template, device=device)
        self.actor_class = ray.remote(VideoWorker).options(
            num_cpus=plan.cpus, num_gpus=plan.gpus, max_concurrency=2, max_restarts=0)
        self.results: dict[int, ItemResult] = {}
        self.pending: deque[int] = deque(range(len(self.items)))
        self.attempts = [0] * len(self.items)
        self.frames = [probe_frames(replace(self.template, video=it.source)) for it in self.items]
        self.idle: deque = deque()
        self.running: dict = {}  # analyze ref -> (actor, item index)
        self.status: dict = {}  # actor -> last WorkerStatus
        self.status_refs: dict = {}  # actor -> pending status() ref
        self.replacements_left = plan.workers * MAX_REPLACEMENTS_PER_WORKER
        self.interrupted = False

    # -- workers ------------------------------------------------------------------------
    def _new_worker(self) -> None:
        models = None if self.template.models_dir is None else str(self.template.models_dir)
        actor = self.actor_class.remote(self.plan.threads, models, self.template.device)
        self.idle.append(actor)

    def _retire(self, actor) -> None:
        self.status_refs.pop(actor, None)
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception as exc:  # noqa: BLE001 - already gone
            log.debug("worker already gone: %s", exc)

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> list[ItemResult]:
        for _ in range(min(self.plan.workers, len(self.items))):
            self._new_worker()
        try:
            while self.pending or self.running:
                self._dispatch()
                if not self.running:
                    self._fail_pending("no worker is left to analyse it (every worker died)")
                    break
                # back as soon as one video is finished, or after POLL_S for the progress bar
                ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    self._finish(ref)
                self._poll_status()
                self._report()
        except KeyboardInterrupt:
            self.interrupted = True
            self._cancel_running()
        finally:
            for actor in [*self.idle, *(a for a, _ in self.running.values())]:
                self._retire(actor)
        for i, item in enumerate(self.items):
            if i not in self.results:
                self.results[i] = ItemResult(item.rel, item.source, item.output, "not started")
        return [self.results[i] for i in range(len(self.items))]

    def _dispatch(self) -> None:
        while self.idle and self.pending:
            actor, index = self.idle.popleft(), self.pending.popleft()
            self.attempts[index] += 1
            ref = actor.analyze.remote(self.items[index], self.template, self.settings)
            self.running[ref] = (actor, index)

    def _finish(self, ref) -> None:
        from ray.exceptions import RayActorError, RayError

        actor, index = self.running.pop(ref)
        try:
            result: ItemResult = self.ray.get(ref)
        except RayActorError as exc:
            self._worker_died(actor, index, exc)
            return
        except RayError as exc:  # a failure of Ray itself around a living worker
            item = self.items[index]
            result = ItemResult(item.rel, item.source, item.output, "failed",
                                reason=f"Ray could not run it ({_first_line(exc)})")
        result.attempts = self.attempts[index]
        self.results[index] = result
        if result.status == "skipped":
            self.frames[index] = 0
        elif result.frames:
            self.frames[index] = result.frames
        self.idle.append(actor)

    def _worker_died(self, actor, index: int, exc: Exception) -> None:
        last = self.status.pop(actor, None)
        self._retire(actor)
        where = last.node if last is not None else "an unknown node"
        item = self.items[index]
        log.warning("the worker analysing %s on %s died: %s", item.rel, where, _first_line(exc))
        if self.interrupted:  # Ctrl-C reached the workers too (a terminal signals them all)
            self.results[index] = ItemResult(
                item.rel, item.source, item.output, "cancelled", node=where,
                attempts=self.attempts[index],
                reason="its worker was stopped; no motion clip was written")
            return
        if self.attempts[index] < self.settings.max_attempts:
            self.pending.appendleft(index)
        else:
            self.results[index] = ItemResult(
                item.rel, item.source, item.output, "failed", node=where,
                attempts=self.attempts[index],
                reason=(f"the worker analysing it died {self.attempts[index]} times (last on "
                        f"{where}): it may need more memory than a worker has"))
        if self.replacements_left > 0:
            self.replacements_left -= 1
            self._new_worker()

    def _fail_pending(self, reason: str) -> None:
        while self.pending:
            index = self.pending.popleft()
            item = self.items[index]
            self.results[index] = ItemResult(item.rel, item.source, item.output, "failed",
                                             reason=reason, attempts=self.attempts[index])

    # -- progress -----------------------------------------------------------------------
    def _poll_status(self) -> None:
        busy = {actor for actor, _ in self.running.values()}
        for actor in list(self.status_refs):
            if actor not in busy:
                self.status_refs.pop(actor)
        if self.status_refs:
            ready, _ = self.ray.wait(list(self.status_refs.values()),
                                     num_returns=len(self.status_refs), timeout=0)
            ready_set = set(ready)
            for actor, ref in list(self.status_refs.items()):
                if ref in ready_set:
                    del self.status_refs[actor]
                    try:
                        self.status[actor] = self.ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a dying worker; its result says more
                        log.debug("no status from a worker: %s", exc)
        for actor in busy - set(self.status_refs):
            self.status_refs[actor] = actor.status.remote()

    def _report(self) -> None:
        if self.progress is None:
            return
        running = []
        done = 0.0
        for actor, index in self.running.values():
            st = self.status.get(actor)
            if st is not None and st.rel == self.items[index].rel:
                if st.frames:
                    self.frames[index] = st.frames
                done += st.fraction * self.frames[index]
                running.append(st)
        done += sum(self.frames[i] for i in self.results)
        finished = len(self.results)
        failed = sum(r.status == "failed" for r in self.results.values())
        self.progress(BatchProgress(done, sum(self.frames), finished, len(self.items), failed,
                                    tuple(running)))

    # -- Ctrl-C -------------------------------------------------------------------------
    def _cancel_running(self) -> None:
        """Asks every busy worker to stop, waits for them (a second Ctrl-C stops waiting),
        then records what became of their videos."""
        for actor, _ in self.running.values():
            actor.cancel.remote()
        deadline = time.monotonic() + CANCEL_GRACE_S
        try:
            while self.running and time.monotonic() < deadline:
                ready, _ = self.ray.wait(list(self.running), num_returns=len(self.running),
                                         timeout=POLL_S)
                for ref in ready:
                    self._finish(ref)
        except KeyboardInterrupt:
            pass
        for actor, index in self.running.values():
            item = self.items[index]
            self.results[index] = ItemResult(
                item.rel, item.source, item.output, "cancelled", attempts=self.attempts[index],
                reason="its worker was stopped; no motion clip was written")
            self.idle.append(actor)
        self.running.clear()
        self.pending.clear()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def run_batch(items: Sequence[BatchItem], template: AnalyzeOptions, settings: BatchSettings,
              progress: ProgressHook | None = None) -> BatchSummary:
    """Analyses ``items`` on Ray as ``settings`` say; see the module docstring.

    ``template`` holds the analysis options (its video/output are replaced per item).
    """
    import ray

    started = time.monotonic()
    with ray_session(settings.address) as where:
        plan = plan_workers(settings, ray.cluster_resources(), len(items))
        run = BatchRun(items, template, settings, plan, progress)
        results = run.run()
    return BatchSummary(results, plan.workers, plan.cpus, plan.gpus, where,
                        time.monotonic() - started, interrupted=run.interrupted)
