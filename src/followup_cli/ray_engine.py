"""The buckets as Ray tasks (SPEC 10, `--engine ray`): the same `buckets.reconcile_bucket`, on a
local Ray started for the run or on an existing cluster (`--ray-address`).

Ray is an optional extra, imported here only and only when asked for. Every worker reads the
inputs' bucket files from the work folder and writes its output rows there, so on a cluster
that folder (beside the output file) must be on a filesystem every worker sees. Each task asks
Ray for the memory its bucket needs, so Ray never runs more buckets at once than fit.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from followup_cli.buckets import BucketResult, Plan, reconcile_bucket
from followup_cli.errors import FollowupError, UsageError

INSTALL_HINT = "pip install followup-cli[ray]"
# A bucket's task needs about a worker's own memory (Python, Polars, Ray: TASK_BASE_MEMORY)
# plus this many times its bucket files' size on disk (measured at 1,000,000 people in 16 and
# 64 buckets: 11 MB of files peaked at 310 MB, 3 MB at 245 MB).
MEMORY_PER_BUCKET_BYTE = 25
TASK_BASE_MEMORY = 256 * 1024 * 1024
MIN_TASK_MEMORY = TASK_BASE_MEMORY


def _ray() -> Any:
    try:
        import ray  # noqa: PLC0415  (an optional extra: only when --engine ray asks)
    except ImportError:
        raise UsageError(f"--engine ray: Ray is not installed; {INSTALL_HINT}") from None
    return ray


class RayEngine:
    """Runs a plan's buckets as Ray tasks on the Ray this process is connected to."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        self.task = ray.remote(reconcile_bucket)

    @property
    def parallelism(self) -> int:
        """Buckets the cluster can run at once, by CPUs: `--buckets auto` makes at least so many."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def largest_node_memory(self) -> int:
        """The most memory one node offers tasks: a task asking for more would never start."""
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        offered = [int(n.get("Resources", {}).get("memory", 0)) for n in nodes]
        return max([*offered, MIN_TASK_MEMORY])

    def run(self, plan: Plan, done: Callable[[BucketResult], None]) -> list[BucketResult]:
        ray = self.ray
        ceiling = self.largest_node_memory()
        shared = ray.put(plan)
        pending: dict[Any, int] = {}
        for bucket in range(plan.buckets):
            need = task_memory(plan.bucket_bytes(bucket), ceiling)
            ref = self.task.options(memory=need, num_cpus=1).remote(shared, bucket)
            pending[ref] = bucket
        results = []
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    bucket = pending.pop(ref)
                    results.append(self._result(ref, bucket))
                    done(results[-1])
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
        return results

    def _result(self, ref: Any, bucket: int) -> BucketResult:
        """The task's result; its error as the local engine would have raised it."""
        ray = self.ray
        try:
            result: BucketResult = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            # The exception raised inside the task, so a bad input reads the same one line
            # with the same exit code as on the local engine.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise FollowupError(
                f"bucket {bucket}: a Ray task failed ({_first_line(exc)})"
            ) from None
        except ray.exceptions.RayError as exc:
            raise FollowupError(
                f"bucket {bucket}: the Ray worker was lost ({type(exc).__name__}: "
                f"{_first_line(exc)}); nothing was written"
            ) from None
        return result


def task_memory(bucket_bytes: int, ceiling: int) -> int:
    """Bytes a bucket's task asks for: a worker's own memory plus its files' size times the
    measured factor, and at most what the largest node offers (a task asking for more would
    wait for ever; it then runs alone on that node instead)."""
    return min(ceiling, TASK_BASE_MEMORY + bucket_bytes * MEMORY_PER_BUCKET_BYTE)


@contextlib.contextmanager
def session(address: str | None) -> Iterator[RayEngine]:
    """A Ray engine for the run: on the Ray this process already uses (a notebook, the tests),
    else on the cluster at `address`, else on a local Ray sized to this machine, started now
    and shut down after."""
    ray = _ray()
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        try:
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=os.cpu_count() or 1, **options)
        except Exception as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise FollowupError(
                f"--engine ray: cannot start {where} ({_first_line(exc)})"
            ) from None
        started = True
    try:
        yield RayEngine(ray)
    finally:
        if started:
            ray.shutdown()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
