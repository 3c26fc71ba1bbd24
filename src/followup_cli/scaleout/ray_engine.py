"""The buckets as Ray tasks (SPEC 10, `--engine ray`): the same `one_bucket.reconcile_bucket`, on a
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
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from followup_cli.core.errors import FollowupError, UsageError
from followup_cli.outputs import signals
from followup_cli.scaleout.one_bucket import reconcile_bucket
from followup_cli.scaleout.plan import BucketResult, Plan

INSTALL_HINT = "pip install followup-cli[ray]"
AUTH_MODE = "RAY_AUTH_MODE"  # Ray's switch for token authentication (`token`, `disabled`)
# Seconds a TCP connect to --ray-address may take before the run says nothing answers there.
PROBE_SECONDS = 5.0
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
        for bucket in plan.to_run:
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
    else on the cluster at `address`, joined as Ray's own CLI joins it (see `_join`), else on
    a local Ray sized to this machine, started now and shut down after."""
    ray = _ray()
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        token = ""
        try:
            if address:
                token = _join(address)
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=os.cpu_count() or 1, **options)
        except FollowupError:
            raise
        except Exception as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise FollowupError(
                f"--engine ray: cannot start {where} ({_first_line(exc)}){token}"
            ) from None
        started = True
        signals.reclaim()  # Ray's start-up put its own SIGTERM handler in place
    try:
        yield RayEngine(ray)
    finally:
        if started:
            ray.shutdown()
            signals.reclaim()


def _join(address: str) -> str:
    """Ready this process to join the cluster at `address`; what to add to a failure.

    Two things Ray's driver does not do for an explicit address, though its CLI does:
    - fail fast when nothing listens there: Ray retries a silent address for about ten minutes
      (20 tries of a 30-second connect), so the address is first probed with a plain TCP
      connect of PROBE_SECONDS;
    - use the cluster's token: `ray start --head` turns token authentication on when a token
      is on file (~/.ray/auth_token, $RAY_AUTH_TOKEN_PATH or $RAY_AUTH_TOKEN), and `ray`
      commands then send it, but `ray.init(address=...)` sends it only with RAY_AUTH_MODE=token
      set. Unset, it is set here when a token is on file, as `ray start` and `ray.init()`
      without an address do (Ray's `maybe_enable_token_auth_if_token_available`).
    """
    host, port = _host_and_port(address)
    if host is not None:
        try:
            with socket.create_connection((host, port), timeout=PROBE_SECONDS):
                pass
        except OSError as exc:
            raise FollowupError(
                f"--ray-address {address}: no Ray cluster answers at {host}:{port} "
                f"({exc.strerror or type(exc).__name__}); start one there with "
                f"`ray start --head --port {port}`, or give the address `ray start` printed"
            ) from None
    if os.environ.get(AUTH_MODE) is not None:
        return ""
    if _token_on_file():
        _enable_token_auth()
        return ""
    return (
        "; if the cluster uses token authentication, put its token (`ray get-auth-token` on the "
        "head node) in ~/.ray/auth_token or RAY_AUTH_TOKEN, or set RAY_AUTH_MODE=disabled for "
        "a cluster without one"
    )


def _host_and_port(address: str) -> tuple[str | None, int]:
    """The host and port to probe in `address` (`HOST:PORT` or `ray://HOST:PORT`); no host for
    an address Ray finds by itself (`auto`, `local`) or one it alone can read."""
    rest = address.strip().removeprefix("ray://")
    host, colon, port = rest.rpartition(":")
    if not colon or not port.isdigit() or not host:
        return None, 0
    return host.strip("[]"), int(port)


def _token_on_file() -> bool:
    """A token where Ray looks for one: $RAY_AUTH_TOKEN, the file $RAY_AUTH_TOKEN_PATH names,
    else ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return True
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    path = Path(named) if named else Path.home() / ".ray" / "auth_token"
    try:
        return bool(path.read_text().strip())
    except (OSError, UnicodeDecodeError):
        return False


def _enable_token_auth() -> None:
    """RAY_AUTH_MODE=token for this process and the Ray it starts, as `ray start` sets it; Ray
    reads its configuration once, so it is read again through Ray's own call when it has one."""
    try:
        from ray._private.authentication import (  # noqa: PLC0415
            authentication_token_setup as setup,
        )

        said = logging.getLogger(setup.__name__)
        level = said.level
        said.setLevel(logging.ERROR)  # its "token authentication is enabled" is for `ray start`
        try:
            setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
        finally:
            said.setLevel(level)
    except (ImportError, AttributeError):
        pass
    os.environ.setdefault(AUTH_MODE, "token")


def _first_line(exc: BaseException) -> str:
    """The error's first line, with the next one when the first only announces it (Ray
    Client's "Initialization failure from server:")."""
    text = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not text:
        return type(exc).__name__
    if text[0].endswith(":") and len(text) > 1:
        return f"{text[0]} {text[1]}"
    return text[0]
