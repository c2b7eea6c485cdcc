"""Job executors: run a search's independent jobs (trials, seed models, growth steps) in this
process or as Ray tasks, with retries; a job that fails is recorded, never fatal.

    from nasc.search.executor import Job, make_executor
    jobs = [Job("trial/0", "nasc.search.random_search:trial_job", {"index": 0, ...}), ...]
    with make_executor(config.search.executor) as ex:
        for result in ex.run(jobs, ordered=True):      # ordered=False: as they finish
            result.ok, result.value, result.error, result.attempts, result.seconds
        ex.submit(job); ex.submit(other)                # or one at a time, as a loop decides
        first = ex.next_result(ordered=True)            # the oldest job's result (deterministic)

A job names its function as `module:function` (importable in a Ray worker) and passes plain,
picklable keyword arguments. In process, `run(..., local=...)` adds keyword arguments that only
make sense here (the run's checkpoint, run dir and event sink, for nested checkpoints); a Ray
job gets none of them, so job functions take them as optional. Retries rerun a job that raised
(up to `retries` more times, counted in `attempts`); on Ray, a worker that dies mid-job is also
retried by Ray itself (`max_retries`). `KeyboardInterrupt` is never swallowed.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from pydantic import Field

from nasc.errors import ConfigError, NascError
from nasc.train.config import Section


class ExecutorSection(Section):
    """`search.executor`: where a search's jobs run."""

    kind: Literal["inline", "ray"] = Field("inline", description="run jobs in this process, or as "
                                                                 "Ray tasks (`--executor ray`)")
    address: str | None = Field(None, description="Ray cluster address (`--ray-address`; None: "
                                                  "start a local Ray)")
    cpus: int | None = Field(None, ge=1, description="CPUs a local Ray may use (None: Ray's default)")
    cpus_per_job: float = Field(1.0, gt=0, description="CPUs reserved for each Ray job")
    gpus_per_job: float | None = Field(None, ge=0, description="GPUs reserved for each Ray job "
                                                               "(None: 1 when the cluster has GPUs)")
    retries: int = Field(1, ge=0, le=100, description="reruns of a job that raised before it is "
                                                      "recorded as failed")


@dataclass(frozen=True)
class Job:
    """One unit of work: `fn` (`module:function`) called with `args`."""

    key: str
    fn: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobResult:
    """How a job ended: its value, or the error of its last attempt."""

    key: str
    value: Any = None
    error: str | None = None
    attempts: int = 1
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the job returned a value."""
        return self.error is None


def resolve(target: str) -> Any:
    """The function named `module:function`."""
    module, _, name = target.partition(":")
    obj: Any = __import__(module, fromlist=["_"])
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def describe(exc: BaseException) -> str:
    """A one-line description of a job's exception: its type and message (NascError: its text)."""
    if isinstance(exc, NascError):
        return f"{type(exc).__name__}: {exc}"
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def call_with_retries(target: str, args: Mapping[str, Any], retries: int,
                      local: Mapping[str, Any] | None = None) -> JobResult:
    """Call the job function up to `1 + retries` times; the result records attempts and time."""
    fn = resolve(target)
    started = time.perf_counter()
    error = "not run"
    for attempt in range(1, retries + 2):
        try:
            value = fn(**args, **(local or {}))
        except Exception as exc:  # recorded, retried; KeyboardInterrupt still stops the run
            error = describe(exc)
            continue
        return JobResult("", value, None, attempt, time.perf_counter() - started)
    return JobResult("", None, error, retries + 1, time.perf_counter() - started)


class Executor(ABC):
    """Base of executors; use as a context manager so resources are released.

    `submit` queues a job; `next_result` returns one result: the oldest submitted job's
    (`ordered=True`: the same sequence on every executor, so a search loop that reacts to results
    is reproducible) or whichever finishes first (`ordered=False`). `run` does both for a list.
    """

    kind = "base"

    def __init__(self) -> None:
        self._queue: list[tuple[Job, Mapping[str, Any] | None]] = []

    @property
    def pending(self) -> int:
        """How many submitted jobs have not been returned by `next_result` yet."""
        return len(self._queue)

    def submit(self, job: Job, local: Mapping[str, Any] | None = None) -> None:
        """Queue `job` (`local`: keyword arguments for an in-process run only)."""
        self._queue.append((job, local))
        self._started(job)

    def _started(self, job: Job) -> None:
        """Hook: start the job now where the executor runs jobs in the background."""

    @abstractmethod
    def next_result(self, *, ordered: bool = True) -> JobResult:
        """The result of the oldest submitted job (`ordered`) or of the first to finish."""

    def cancel_pending(self) -> list[Job]:
        """Drop every job not yet returned (a stopped search); returns them."""
        dropped = [job for job, _ in self._queue]
        self._queue.clear()
        return dropped

    def run(self, jobs: Sequence[Job], *, ordered: bool = True,
            local: Mapping[str, Any] | None = None) -> Iterator[JobResult]:
        """Run `jobs`; yield their results in job order (`ordered`) or as they finish."""
        for job in jobs:
            self.submit(job, local)
        for _ in jobs:
            yield self.next_result(ordered=ordered)

    def close(self) -> None:
        """Release what the executor started."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class InlineExecutor(Executor):
    """Runs jobs one after another in this process, oldest first (the default; deterministic)."""

    kind = "inline"

    def __init__(self, retries: int = 1) -> None:
        super().__init__()
        self.retries = retries

    def next_result(self, *, ordered: bool = True) -> JobResult:
        job, local = self._queue.pop(0)  # in process, the oldest is also the first to finish
        r = call_with_retries(job.fn, job.args, self.retries, local)
        return JobResult(job.key, r.value, r.error, r.attempts, r.seconds)


def _ray_job(target: str, args: Mapping[str, Any], retries: int) -> JobResult:
    """A job inside a Ray worker: retries of raised exceptions happen here, so they are counted."""
    return call_with_retries(target, args, retries)


class RayExecutor(Executor):
    """Runs jobs as Ray tasks on a local Ray (started here) or a cluster (`address`)."""

    kind = "ray"

    def __init__(self, section: ExecutorSection) -> None:
        super().__init__()
        try:
            import ray
        except ImportError:
            raise ConfigError("the Ray executor needs the `ray` package", key="search.executor.kind",
                              hint='pip install "nasc[ray]", or use --executor inline') from None
        self.ray = ray
        self.section = section
        self.started_here = not ray.is_initialized()
        if self.started_here:
            try:
                if section.address:
                    ray.init(address=section.address, log_to_driver=False, configure_logging=False)
                else:
                    ray.init(num_cpus=section.cpus, include_dashboard=False, log_to_driver=False,
                             configure_logging=False)
            except Exception as exc:  # a wrong address or a broken local start: say which
                raise ConfigError(f"could not start Ray: {describe(exc)}", key="search.executor.address",
                                  hint="check --ray-address (host:port of a running cluster), or "
                                       "leave it out to start a local Ray") from None
        gpus = section.gpus_per_job
        if gpus is None:  # one GPU per job where the cluster has GPUs
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        # worker crashes are retried by Ray (max_retries); exceptions by `_ray_job` itself
        self.task = ray.remote(num_cpus=section.cpus_per_job, num_gpus=gpus,
                               max_retries=section.retries)(_ray_job)
        self._refs: dict[str, Any] = {}  # job key -> object ref

    def _started(self, job: Job) -> None:
        self._refs[job.key] = self.task.remote(job.fn, dict(job.args), self.section.retries)

    def next_result(self, *, ordered: bool = True) -> JobResult:
        if ordered:
            job, _ = self._queue.pop(0)
        else:
            by_ref = {self._refs[j.key]: i for i, (j, _) in enumerate(self._queue)}
            done, _ = self.ray.wait(list(by_ref), num_returns=1)
            job, _ = self._queue.pop(by_ref[done[0]])
        return self._collect(self._refs.pop(job.key), job)

    def cancel_pending(self) -> list[Job]:
        for job, _ in self._queue:
            try:
                self.ray.cancel(self._refs.pop(job.key), force=True)
            except Exception:  # already finished or gone: nothing to stop
                pass
        return super().cancel_pending()

    def _collect(self, ref: Any, job: Job) -> JobResult:
        try:
            r: JobResult = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # the worker died after every retry
            cause = getattr(exc, "cause", None)
            return JobResult(job.key, None, describe(cause) if isinstance(cause, BaseException)
                             else f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                             self.section.retries + 1, 0.0)
        return JobResult(job.key, r.value, r.error, r.attempts, r.seconds)

    def close(self) -> None:
        if self.started_here and self.ray.is_initialized():
            self.ray.shutdown()


def make_executor(section: ExecutorSection) -> Executor:
    """The executor `search.executor` asks for."""
    if section.kind == "ray":
        return RayExecutor(section)
    return InlineExecutor(section.retries)
