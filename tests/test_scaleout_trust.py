"""Buckets and Ray as a person meets them (SPEC 10): files of the same name, thousands of
buckets for a few people, a damaged Parquet page, and a real Ray cluster joined as Ray's own
CLI joins it (token included), or a clear sentence when none answers."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from followup_cli.cli.main import app
from followup_cli.scaleout import one_bucket, work_folder
from followup_cli.scaleout.plan import BucketResult, Plan
from followup_cli.synthetic.generate import generate

from .conftest import SAMPLE

FOLLOWUP = Path(sys.executable).with_name("followup")
RAY = Path(sys.executable).with_name("ray")
AS_OF = "2024-07-31"
RUN_SECONDS = 240  # a guard against a hang only; every run here takes seconds


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def outputs(folder: Path) -> tuple[bytes, bytes]:
    rejects = folder / "rejects.csv"
    return (folder / "out.csv").read_bytes(), rejects.read_bytes() if rejects.exists() else b""


def reconcile_into(folder: Path, *options: str) -> tuple[int, str, tuple[bytes, bytes]]:
    folder.mkdir(parents=True, exist_ok=True)
    code, stderr = run_cli(
        "reconcile",
        "--as-of",
        AS_OF,
        "-o",
        str(folder / "out.csv"),
        "--rejects",
        str(folder / "rejects.csv"),
        "-q",
        *options,
    )
    assert code in (0, 1), stderr
    return code, stderr, outputs(folder)


# --- files of the same name -------------------------------------------------------------------


def test_two_tables_in_files_of_the_same_name_give_one_pass_s_bytes(tmp_path: Path) -> None:
    """`--customers x/a.csv --payments y/a.csv`: buckets write one pass's output and rejects,
    the rejects of the two a.csv files in one pass's order (customers first)."""
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "a.csv").write_text(
        "customer_id,name,origin,created_on\n"
        "C-1,Ann,web,2024-01-01\nC-2,Bob,web,2024-01-01\nC-3,Cy,web,2024-13-01\n"
        "C-4,Di,web,2024-01-01\n"
    )
    payments = [
        "P-1,C-1,2024-02-01,abc,recurring",  # line 2: before the customers' bad line 4
        "P-2,C-2,2024-02-01,10.00,recurring",
        "P-3,C-4,2024-02-01,10.00,recurring",
        "P-4,C-9,2024-02-01,10.00,recurring",
        "P-2,C-4,2024-02-01,10.00,recurring",
        *(f"P-{i}{i},C-{i % 4 + 1},2024-03-0{i},10.00,recurring" for i in range(5, 10)),
    ]
    (tmp_path / "y" / "a.csv").write_text(
        "payment_id,customer_id,paid_on,amount,kind\n" + "\n".join(payments) + "\n"
    )
    tables = [
        "--data",
        str(SAMPLE),
        "--customers",
        str(tmp_path / "x" / "a.csv"),
        "--payments",
        str(tmp_path / "y" / "a.csv"),
        "--without",
        "agreements",
        "--without",
        "events",
    ]
    code, _, one_pass = reconcile_into(tmp_path / "one", *tables)
    assert code == 1
    assert one_pass[1].count(b"\na.csv,") == 5
    for n in ("2", "3", "7"):
        assert reconcile_into(tmp_path / f"b{n}", *tables, "--buckets", n)[::2] == (1, one_pass)


# --- empty buckets ----------------------------------------------------------------------------


def test_thousands_of_buckets_for_a_few_people_run_only_the_occupied_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--buckets 4096 on the 18-person sample: one pass's bytes, and no more buckets
    reconciled than there are rows (every one of the 4,096 took ten minutes)."""
    ran: list[int] = []
    real = one_bucket.reconcile_bucket

    def counted(plan: Plan, bucket: int) -> BucketResult:
        ran.append(bucket)
        return real(plan, bucket)

    monkeypatch.setattr(one_bucket, "reconcile_bucket", counted)
    one_pass = reconcile_into(tmp_path / "one", "--data", str(SAMPLE))
    split = reconcile_into(tmp_path / "split", "--data", str(SAMPLE), "--buckets", "4096")
    assert split == one_pass
    rows = sum(len(p.read_text().splitlines()) - 1 for p in SAMPLE.glob("*.csv"))
    assert 0 < len(ran) <= rows + 1
    assert ran == sorted(set(ran))


# --- a damaged Parquet page -------------------------------------------------------------------


def test_a_damaged_parquet_page_is_named_under_buckets(tmp_path: Path) -> None:
    """A Parquet data page that does not decompress: buckets name the file and exit 3, as one
    pass does, not "internal error"."""
    data = tmp_path / "data"
    generate(2000, data, seed=0, fmt="parquet")
    damaged = data / "payments.parquet"
    body = bytearray(damaged.read_bytes())
    at = len(body) * 2 // 3  # inside a data page, well before the footer
    body[at : at + 200] = bytes((i * 37 + 11) % 256 for i in range(200))
    damaged.write_bytes(body)
    said = []
    for options in ((), ("--buckets", "3")):
        code, stderr = run_cli(
            "reconcile", "--data", str(data), "--as-of", AS_OF, "-o", str(tmp_path / "o.csv"),
            *options,
        )  # fmt: skip
        assert code == 3, stderr
        said.append(stderr.strip())
    assert said[0].startswith("followup: error: payments.parquet: cannot be read (")
    assert said[1] == said[0]


# --- a Ray cluster started by `ray start --head` ----------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def followup(
    *args: str, cwd: Path, home: Path, timeout: float = RUN_SECONDS
) -> subprocess.CompletedProcess[str]:
    """The installed command, as a person runs it: its own process, HOME and folder, and no
    RAY_AUTH_MODE (a stock shell)."""
    return subprocess.run(
        [str(FOLLOWUP), *args],
        cwd=cwd,
        env=ray_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_sentence(stderr: str) -> str:
    """The command's own message: one line, no traceback (Ray's C++ log lines aside)."""
    ours = [line for line in stderr.splitlines() if line.startswith("followup:")]
    assert "Traceback" not in stderr
    assert len(ours) == 1, stderr
    return ours[0]


class Cluster:
    def __init__(self, home: Path, port: int, client_port: int, logs: Path) -> None:
        self.home, self.port, self.client_port, self.logs = home, port, client_port, logs

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the Ray Client server's log: what Ray said when a `ray://` run did
        not finish."""
        said = []
        for log in sorted(self.logs.glob("client-server.*")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            said.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(said) or "(no client-server log)"


def ray_env(home: Path) -> dict[str, str]:
    """A stock shell's environment (no RAY_ settings) with `home` as HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["HOME"] = str(home)
    return env


def start_cluster(base: Path, home: Path) -> tuple[list[subprocess.Popen[bytes]], Cluster]:
    """`ray start --head --block` in a folder of its own, and a Ray Client server for it.

    The head's own client server (`--ray-client-server-port`) starts a Python process per
    `ray://` client, with Linux's parent-death signal tied to the thread that started it; on
    CI that process sometimes died before it said a word and the client waited two minutes
    (twice, with two fresh heads, in one fresh-clone run). Ray's single-process client server
    (`python -m ray.util.client.server --mode legacy`) speaks the same protocol to the client
    without those processes: followup's `ray://` join is what is tested, not Ray's spawning.
    """
    started_in = base / "head"
    started_in.mkdir(exist_ok=True)
    port, unused_proxy, client_port = free_port(), free_port(), free_port()
    head = subprocess.Popen(
        [
            str(RAY),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            f"--ray-client-server-port={unused_proxy}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={base / 'ray'}",
        ],
        cwd=started_in,
        env=ray_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    logs = base / "logs"
    logs.mkdir(exist_ok=True)
    server_env = ray_env(home) | {"RAY_AUTH_MODE": "token"}  # as `ray start` sets for its own
    with (logs / f"client-server.{port}.log").open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "ray.util.client.server", "--mode", "legacy",
                "--host", "127.0.0.1", "--port", str(client_port),
                "--address", f"127.0.0.1:{port}",
            ],
            cwd=started_in, env=server_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return [server, head], Cluster(home, port, client_port, logs)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (`ray start --block` then stops what it started), SIGKILL after a minute."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def answers_ray_clients(processes: list[subprocess.Popen[bytes]], cluster: Cluster) -> str:
    """Why the cluster does not yet serve a `ray://` client, or "" once a bare Ray client has
    connected, run a task and left (Ray's own start-up, before any of followup's runs)."""
    deadline = time.monotonic() + 90
    while True:
        if any(process.poll() is not None for process in processes):
            return "ray start --head or the client server ended"
        if time.monotonic() > deadline:
            return "the client server did not listen in 90 s"
        try:
            with socket.create_connection(("127.0.0.1", cluster.client_port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    probe = (
        "import ray, sys; ray.init(sys.argv[1], logging_level='ERROR'); "
        "assert ray.get(ray.remote(lambda: 1).remote()) == 1; ray.shutdown()"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe, f"ray://127.0.0.1:{cluster.client_port}"],
            env=ray_env(cluster.home) | {"RAY_AUTH_MODE": "token"},
            capture_output=True, text=True, timeout=150, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "a bare ray:// client did not finish in 150 s"
    return "" if done.returncode == 0 else f"a bare ray:// client failed: {done.stderr[-500:]}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A stock Ray cluster: `ray start --head` in a HOME whose ~/.ray/auth_token makes it
    require that token (as a machine that ever ran Ray has), with a Ray Client server (see
    `start_cluster`), stopped after the tests by ending the processes this fixture started
    (never `ray stop`, which stops every Ray on the machine). It is first shown to serve a
    bare Ray client, and started again, once, if it does not."""
    base = Path(tempfile.mkdtemp(prefix="fu-ray-", dir="/tmp"))  # short: Ray's socket paths
    home = base / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    started: list[subprocess.Popen[bytes]] = []
    try:
        why = []
        for _ in range(2):
            processes, ready = start_cluster(base, home)
            started += processes
            reason = answers_ray_clients(processes, ready)
            if not reason:
                break
            why.append(f"{reason}\n{ready.log_tail()}")
            for process in processes:
                stop(process)
        else:
            pytest.fail(
                "a Ray cluster for the tests never served ray:// clients:\n" + "\n".join(why)
            )
        yield ready
    finally:
        for process in started:
            stop(process)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def one_pass_sample(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("one-pass") / "out.csv"
    code, stderr = run_cli("reconcile", "--data", str(SAMPLE), "--as-of", AS_OF, "-o", str(out))
    assert code == 0, stderr
    return out.read_bytes()


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_ray_start_cluster_is_joined_with_its_token(
    cluster: Cluster, one_pass_sample: bytes, tmp_path: Path, scheme: str
) -> None:
    """`--ray-address HOST:PORT` (and `ray://HOST:CLIENT_PORT`, the README's form) joins a
    cluster that requires the token on file, with RAY_AUTH_MODE unset, from another folder
    than the cluster's, and writes one pass's bytes (`-o` relative to where it runs)."""
    port = cluster.client_port if scheme else cluster.port
    try:
        done = followup(
            "reconcile", "--data", str(SAMPLE), "--as-of", AS_OF, "-o", "out.csv", "-q",
            "--engine", "ray", "--ray-address", f"{scheme}127.0.0.1:{port}", "--buckets", "2",
            cwd=tmp_path, home=cluster.home,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        wrote = (tmp_path / "out.csv").exists()
        pytest.fail(f"no end in {exc.timeout} s (out.csv written: {wrote})\n{cluster.log_tail()}")
    assert done.returncode == 0, f"{done.stderr}\n{cluster.log_tail()}"
    assert (tmp_path / "out.csv").read_bytes() == one_pass_sample
    assert not list(tmp_path.glob(f"{work_folder.WORK_PREFIX}*"))


def test_without_the_token_the_run_says_what_to_set(cluster: Cluster, tmp_path: Path) -> None:
    """Joining a cluster that requires a token, with none on file: exit 3, one sentence that
    names where the token goes."""
    stranger = tmp_path / "home"
    stranger.mkdir()
    done = followup(
        "reconcile", "--data", str(SAMPLE), "--as-of", AS_OF, "-o", "out.csv",
        "--engine", "ray", "--ray-address", f"127.0.0.1:{cluster.port}",
        cwd=tmp_path, home=stranger,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    said = one_error_sentence(done.stderr)
    assert "~/.ray/auth_token" in said and "RAY_AUTH_TOKEN" in said
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_nothing_listens_is_one_sentence(tmp_path: Path, scheme: str) -> None:
    """`--ray-address 127.0.0.1:PORT` with nothing there: exit 3 and one sentence naming the
    address, in seconds (Ray itself retried for ten minutes)."""
    port = free_port()  # bound once, then free: nothing listens there now
    done = followup(
        "reconcile", "--data", str(SAMPLE), "--as-of", AS_OF, "-o", "out.csv",
        "--engine", "ray", "--ray-address", f"{scheme}127.0.0.1:{port}",
        cwd=tmp_path, home=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    said = one_error_sentence(done.stderr)
    assert f"127.0.0.1:{port}" in said and "ray start --head" in said
    assert not (tmp_path / "out.csv").exists()


def test_the_ray_extra_installs_the_client() -> None:
    """The `ray` extra is `ray[client]`: `ray://HEAD:10001` needs it (plain `ray` said "Ray
    Client requires pip package `ray[client]`")."""
    project = tomllib.loads((SAMPLE.parent / "pyproject.toml").read_text())["project"]
    wanted = project["optional-dependencies"]["ray"]
    assert wanted and all(r.startswith("ray[client]") for r in wanted), wanted
