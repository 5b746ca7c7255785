"""Faults done the way they happen, against real clusters, files and processes: killed scoring
processes and commands, a scheduler that dies or has no workers, inputs that change under a
run, two runs in one folder, a full disk, bad characters, compressed inputs, open ports."""

from __future__ import annotations

import gzip
import inspect
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask
import distributed.worker_state_machine
import pandas as pd
import psutil
import pytest
from commands import alive, ctrl_c, finished, rollscore, wait_for
from distributed import Client
from rollscore.pipeline.cluster import CANCELLED_AT_CLOSE, scoring_client
from rollscore.pipeline.errors import DashboardAddressError
from rollscore.pipeline.output import OutputDir, part_name
from rollscore.rewards import combine_reward_functions, format_reward, math_expression_reward
from rollscore.rewards.verifier.pool import SCORING_PROCESS_MODULE

from bench.corpus import write_corpus

pytestmark = pytest.mark.slow  # every test here runs rollscore against real processes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIG_YAML = (
    "reward_functions:\n  - {name: format, weight: 0.2}\n  - {name: math_expr, weight: 0.8}\n"
)
MATH = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])


def parts(out: Path) -> int:
    return len(list((out / "scores").glob("part-*.parquet")))


def expected_rewards(path: Path) -> list[float]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [MATH(row["ground_truth"], row["response"])[0] for row in rows]


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG_YAML)
    return path


def score_command(corpus: Path, config: Path, out: Path, *more: str) -> list[str]:
    return ["score", str(corpus), "--config", str(config), "--output", str(out), *more]


def test_a_scoring_process_killed_mid_run_costs_no_row(corpus_path, config, tmp_path):
    out = tmp_path / "out"
    run = rollscore(*score_command(corpus_path, config, out, "--partition-rows", "8"))
    wait_for(lambda: parts(out) >= 2)
    cli = psutil.Process(run.pid)
    scoring = [p for p in cli.children(recursive=True) if SCORING_PROCESS_MODULE in p.cmdline()]
    assert scoring  # the workers' scoring processes, mid-run
    scoring[0].kill()
    _, stderr = run.communicate(timeout=300)

    assert run.returncode == 0, stderr
    scores = pd.read_parquet(out / "scores")
    assert scores["reward"].tolist() == expected_rewards(corpus_path)
    assert scores["error"].isna().all()


def test_a_command_killed_outright_resumes_and_holds_each_row_once(
    dask_processes, corpus_path, config, tmp_path
):
    out = tmp_path / "out"
    command = score_command(corpus_path, config, out, "--scheduler", dask_processes)
    first = rollscore(*command, "--partition-rows", "8")
    wait_for(lambda: parts(out) >= 3)
    first.kill()  # SIGKILL: no handler runs, the lock is left behind
    first.communicate(timeout=60)
    assert 3 <= parts(out) < 40

    resumed = finished(*command, "--resume")

    assert resumed.returncode == 0, resumed.stderr
    scores = pd.read_parquet(out / "scores")
    ids = [json.loads(line)["id"] for line in corpus_path.read_text().splitlines()]
    assert scores["id"].tolist() == ids
    assert scores["reward"].tolist() == expected_rewards(corpus_path)


def test_resuming_after_the_input_changed_is_refused_in_one_line(corpus_path, config, tmp_path):
    corpus = tmp_path / "rollouts.jsonl"
    corpus.write_bytes(corpus_path.read_bytes())
    out = tmp_path / "out"
    first = rollscore(*score_command(corpus, config, out, "--partition-rows", "8"))
    wait_for(lambda: parts(out) >= 3)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    lines = corpus.read_text().splitlines(keepends=True)
    extra = json.dumps({"id": "new", "ground_truth": "1", "response": "<answer>1</answer>"}) + "\n"
    corpus.write_text(extra + "".join(lines) + extra)  # lines added at the start and the end

    resumed = finished(*score_command(corpus, config, out, "--resume"))

    assert resumed.returncode == 2
    size = len("".join(lines).encode())
    assert resumed.stderr == (
        f"rollscore: error: cannot resume {out}: input {corpus} changed size "
        f"({size:,} -> {size + 2 * len(extra):,} bytes) since it started; "
        "start again with --overwrite\n"
    )


def test_an_input_changed_in_place_is_never_scored(corpus_path, config, tmp_path):
    corpus = tmp_path / "rollouts.jsonl"
    corpus.write_bytes(corpus_path.read_bytes())
    out = tmp_path / "out"
    command = score_command(corpus, config, out, "--partition-rows", "8", "--workers", "1")
    assert finished(*command).returncode == 0
    last = out / "scores" / part_name(39, 40)
    last.unlink()  # as if the run had stopped before its last partition
    run = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**run, "finished": False}))
    stat = corpus.stat()
    data = corpus.read_bytes()
    # the same size and modification time, other words near the end: only the bytes tell
    at = data.rindex(b"Problem")
    corpus.write_bytes(data[:at] + b"Puzzles" + data[at + len("Puzzles") :])
    os.utime(corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    resumed = finished(*score_command(corpus, config, out, "--resume", "--workers", "1"))

    assert resumed.returncode == 2
    assert resumed.stderr.splitlines()[-1] == (
        f"rollscore: error: input {corpus} changed since the run was planned"
    )
    assert "Traceback" not in resumed.stderr
    assert parts(out) == 39 and not last.exists()  # the changed block was never written


def test_two_runs_in_one_folder_the_second_refused_and_a_dead_runs_lock_taken_over(
    corpus_path, config, tmp_path
):
    out = tmp_path / "out"
    out.mkdir()  # as an earlier run leaves it: its lock file stays, naming that run
    (out / ".rollscore.lock").write_text(json.dumps({"host": "h", "pid": 1, "since": 0.0}))
    first = rollscore(*score_command(corpus_path, config, out, "--partition-rows", "8"))
    wait_for(lambda: parts(out) >= 1)
    first.send_signal(signal.SIGSTOP)  # mid-run for as long as the test needs, lock held

    second = finished(*score_command(corpus_path, config, out, "--overwrite"))

    assert second.returncode == 2
    assert second.stderr.startswith(
        f"rollscore: error: output {out} is in use by another rollscore run "
        f"(process {first.pid} on "
    )
    assert second.stderr.count("\n") == 1
    first.kill()
    first.communicate(timeout=60)

    third = finished(*score_command(corpus_path, config, out, "--resume"))

    assert third.returncode == 0, third.stderr  # the dead run's lock is taken over
    assert pd.read_parquet(out / "scores")["reward"].tolist() == expected_rewards(corpus_path)


def test_a_full_disk_fails_in_one_line_and_leaves_the_metadata_whole(config, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("tmpfs cannot be mounted here")
    try:
        out = disk / "out"
        command = score_command(EXAMPLES / "rollouts.jsonl", EXAMPLES / "config.yaml", out)
        assert finished(*command, "--workers", "1").returncode == 0
        run_json, metrics_json = (out / "run.json").read_text(), (out / "metrics.json").read_text()
        filler = disk / "filler"
        with open(filler, "wb") as handle, pytest.raises(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()

        full = finished(*command, "--resume", "--workers", "1")

        assert full.returncode == 2
        assert full.stderr.splitlines()[-1].startswith("rollscore: error: [Errno 28] No space left")
        assert (out / "run.json").read_text() == run_json  # whole, as before: never torn
        assert (out / "metrics.json").read_text() == metrics_json
        assert not list(out.glob(".*.tmp"))
        filler.unlink()

        again = finished(*command, "--resume", "--workers", "1")
        assert again.returncode == 0, again.stderr
        assert json.loads((out / "run.json").read_text())["finished"] is True
    finally:
        subprocess.run(["umount", "-l", str(disk)])


@pytest.mark.parametrize("rows", [300, 3000], ids=["in-the-command", "worker-processes"])
def test_a_part_over_the_file_size_limit_stops_the_run_in_one_line_that_says_resume(
    config, tmp_path, rows
):
    """A part the system will not write (a file size limit, as ``ulimit -f`` sets; a full disk
    fails the same way) stops the run with one line naming it and how to finish, and no
    worker's traceback: 1.8 MB of input is scored by threads of the command, 18 MB by worker
    processes."""
    letters = random.Random(5)
    lines = [
        {"id": n, "ground_truth": "1", "response": "".join(letters.choices("abcdefgh ", k=6000))}
        for n in range(rows)
    ]
    corpus = tmp_path / "rollouts.jsonl"
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    command = score_command(corpus, config, out, "--partition-rows", "100", "--workers", "2")

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    stopped = finished(*command, preexec_fn=limited)

    assert stopped.returncode == 1
    assert re.fullmatch(
        rf"rollscore: error: cannot write {out}/scores/part-000\d\d.parquet: File too large; "
        rf"0 partitions are written to {out}: run the same command with --resume to finish",
        stopped.stderr.splitlines()[-1],
    ), stopped.stderr
    assert "Traceback" not in stopped.stderr
    resumed = finished(*command, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert pd.read_parquet(out / "scores")["id"].tolist() == list(range(rows))


def test_bad_characters_and_deep_nesting_cost_their_rows_only_and_resume(config, tmp_path):
    row = {"ground_truth": "1", "response": "<answer>1</answer>"}
    rows = [json.dumps({"id": n, **row}) for n in range(3)]
    lines = [
        rows[0],
        '{"id": "lone", "ground_truth": "1", "response": "cut off \\ud800"}',
        rows[1],
        "[" * 50_000 + "]" * 50_000,
        rows[2],
    ]
    corpus = tmp_path / "rollouts.jsonl"
    corpus.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "raw", "ground_truth": "1", '
                       b'"response": "\xed\xa0\x80"}\n')  # fmt: skip
    out = tmp_path / "out"

    done = finished(*score_command(corpus, config, out, "--partition-rows", "2", "--workers", "1"))

    assert done.returncode == 0, done.stderr
    scores = pd.read_parquet(out / "scores")
    assert len(scores) == 6
    kinds = [None if pd.isna(kind) else kind for kind in scores["error_kind"]]
    assert kinds == [None, "unreadable_row", None, "unreadable_row", None, "unreadable_row"]
    fine = MATH(row["ground_truth"], row["response"])[0]
    assert scores["reward"].tolist() == [fine, 0.0, fine, 0.0, fine, 0.0]
    assert scores["response"].tolist()[1] == "cut off \ufffd"
    (out / "scores" / part_name(0, 3)).unlink()
    (out / "run.json").write_text(
        json.dumps({**json.loads((out / "run.json").read_text()), "finished": False})
    )
    resumed = finished(*score_command(corpus, config, out, "--resume", "--workers", "1"))
    assert resumed.returncode == 0, resumed.stderr
    assert pd.read_parquet(out / "scores")["reward"].tolist() == scores["reward"].tolist()


def test_compressed_inputs_in_a_folder_are_scored_and_other_files_named(
    corpus_path, config, tmp_path
):
    folder = tmp_path / "inputs"
    folder.mkdir()
    with gzip.open(folder / "rollouts.jsonl.gz", "wb") as handle:
        handle.write(corpus_path.read_bytes())
    (folder / "README.md").write_text("how these were made")
    out = tmp_path / "out"

    done = finished(*score_command(folder, config, out, "--workers", "1"))

    assert done.returncode == 0, done.stderr
    assert "rollscore: warning: skipped 1 files that are not rollouts" in done.stderr
    assert str(folder / "README.md") in done.stderr
    assert pd.read_parquet(out / "scores")["reward"].tolist() == expected_rewards(corpus_path)


def listening(process: psutil.Process) -> set[str]:
    """The addresses a process and its descendants listen on."""
    addresses = set()
    for member in [process, *process.children(recursive=True)]:
        for connection in member.net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN:
                addresses.add(connection.laddr.ip)
    return addresses


@pytest.mark.parametrize("in_process", [False, True])
def test_local_clusters_listen_on_loopback_only_unless_asked(in_process):
    me = psutil.Process()
    with scoring_client(workers=1, in_process=in_process) as client:
        assert listening(me) == {"127.0.0.1"}
        assert client.dashboard_link.startswith("http://127.0.0.1:")
    with scoring_client(workers=1, dashboard="127.0.0.2:0", in_process=in_process):
        assert listening(me) == {"127.0.0.1", "127.0.0.2"}  # the dashboard, as asked
    with (
        dask.config.set({"distributed.scheduler.dashboard.address": "127.0.0.3:0"}),
        scoring_client(workers=1, in_process=in_process),
    ):
        assert listening(me) == {"127.0.0.1", "127.0.0.3"}  # Dask's own setting, too
    for beyond in ("0.0.0.0:0", ":0"):  # the dashboard takes no credentials: never elsewhere
        with pytest.raises(DashboardAddressError, match=f"listen on {beyond}, beyond"):
            scoring_client(workers=1, dashboard=beyond, in_process=in_process).__enter__()
        with (
            dask.config.set({"distributed.scheduler.dashboard.address": beyond}),
            pytest.raises(DashboardAddressError),
        ):
            scoring_client(workers=1, in_process=in_process).__enter__()


def test_the_training_adapters_own_cluster_listens_on_loopback_only():
    from rollscore.env import VLMEnvironment

    config = {"num_workers": 1, "reward_functions": [{"name": "format", "weight": 1}]}
    with VLMEnvironment(config) as environment:
        assert listening(psutil.Process()) == {"127.0.0.1"}
        assert environment.client.dashboard_link.startswith("http://127.0.0.1:")


def test_a_scheduler_without_workers_is_reported_in_one_line(dask_cluster, config, tmp_path):
    address = dask_cluster.start_scheduler()
    started = time.monotonic()

    done = finished(
        *score_command(EXAMPLES / "rollouts.jsonl", config, tmp_path / "out"),
        "--scheduler", address, "--wait-for-workers", "2",
    )  # fmt: skip

    assert time.monotonic() - started < 60
    assert done.returncode == 2
    assert done.stderr == (
        f"rollscore: error: the scheduler at {address} has no workers after 2 s: "
        f"start some, e.g. 'dask worker {address}'\n"
    )


def test_a_scheduler_killed_mid_run_ends_in_one_line_and_the_run_resumes(
    dask_cluster, corpus_path, config, tmp_path
):
    address = dask_cluster.start_scheduler()
    dask_cluster.start_workers(2)
    out = tmp_path / "out"
    first = rollscore(*score_command(corpus_path, config, out, "--scheduler", address,
                                     "--partition-rows", "8"))  # fmt: skip
    wait_for(lambda: parts(out) >= 3)
    dask_cluster.scheduler.kill()
    _, stderr = first.communicate(timeout=120)

    assert first.returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("rollscore: error: the Dask cluster went away mid-run")
    assert last.endswith(
        f"partitions are written to {out}: run the same command with --resume to finish"
    )
    assert "Traceback" not in stderr

    address = dask_cluster.start_scheduler()
    dask_cluster.start_workers(2)
    resumed = finished(*score_command(corpus_path, config, out, "--scheduler", address,
                                      "--resume"))  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert pd.read_parquet(out / "scores")["reward"].tolist() == expected_rewards(corpus_path)


def test_a_scheduler_killed_while_the_run_plans_says_the_cluster_went_away(
    dask_cluster, config, tmp_path
):
    address = dask_cluster.start_scheduler()
    dask_cluster.start_workers(2)
    corpus = write_corpus(tmp_path / "rollouts.jsonl", 20_000, 8)
    out = tmp_path / "out"
    run = rollscore(*score_command(corpus, config, out, "--scheduler", address))
    with Client(address) as watcher:

        def scanning() -> bool:
            keys = [key for keys in watcher.processing().values() for key in keys]
            return any(str(key).startswith("scan_pieces") for key in keys)

        wait_for(scanning)
    dask_cluster.scheduler.kill()
    _, stderr = run.communicate(timeout=120)

    assert run.returncode == 1, stderr
    assert re.fullmatch(
        rf"rollscore: error: the Dask cluster went away mid-run \(\w+\); nothing was written "
        rf"to {re.escape(str(out))}",
        stderr.strip().splitlines()[-1],
    )


def installed_command() -> Path:
    """The ``rollscore`` script pip installed beside the Python running the tests."""
    script = Path(sys.executable).parent / "rollscore"
    assert script.exists(), f"{script}: rollscore is not installed in this environment"
    return script


def importing_numpy(pid: int) -> bool:
    """Whether process ``pid`` has loaded NumPy: the command's imports are under way."""
    return any("_multiarray_umath" in Path(m.path).name for m in psutil.Process(pid).memory_maps())


def test_ctrl_c_while_the_command_imports_says_so_in_one_line(config, tmp_path):
    run = subprocess.Popen(
        [installed_command(), *score_command(EXAMPLES / "rollouts.jsonl", config, tmp_path / "o")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: importing_numpy(run.pid), timeout=30)  # pandas and Dask still to come
    ctrl_c(run)
    _, stderr = run.communicate(timeout=60)

    assert (run.returncode, stderr) == (130, "rollscore: interrupted\n")
    assert not (tmp_path / "o").exists()


def test_ctrl_c_while_the_cluster_starts_says_so_in_one_line(config, tmp_path):
    out = tmp_path / "out"
    run = rollscore(*score_command(EXAMPLES / "rollouts.jsonl", config, out, "--overwrite"))
    wait_for(lambda: (out / ".rollscore.lock").exists())  # checks done, the cluster starting
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)

    assert run.returncode == 130
    assert "Traceback" not in stderr
    assert re.fullmatch(
        rf"rollscore: interrupted; (nothing was written to {re.escape(str(out))}|\d+ partitions "
        rf"are written to {re.escape(str(out))}: run the same command with --resume instead of "
        "--overwrite)",
        stderr.strip().splitlines()[-1],
    )


def test_ctrl_c_in_a_terminal_stops_every_process_and_says_so_in_one_line(
    corpus_path, config, tmp_path
):
    out = tmp_path / "out"
    run = rollscore(
        *score_command(corpus_path, config, out, "--overwrite", "--partition-rows", "4")
    )
    wait_for(lambda: parts(out) >= 2)
    started = psutil.Process(run.pid).children(recursive=True)  # workers, scoring processes
    assert any(SCORING_PROCESS_MODULE in process.cmdline() for process in started)
    ctrl_c(run)
    _, stderr = run.communicate(timeout=120)

    assert run.returncode == 130, stderr
    said = [line for line in stderr.splitlines() if not line.startswith(("[", "Dask dashboard"))]
    assert len(said) == 1, stderr
    assert re.fullmatch(
        rf"rollscore: interrupted; \d+ partitions are written to {re.escape(str(out))}: run the "
        "same command with --resume instead of --overwrite",
        said[0],
    )
    wait_for(lambda: not any(alive(process.pid) for process in started), timeout=30)


INTERRUPTED_BEFORE_THE_CALL_STARTS = """
import os, signal, sys, threading, time
from distributed import Client
from rollscore.pipeline.cli import take_ctrl_c_quietly

take_ctrl_c_quietly()
client = Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None)


async def call():
    return 1


client.loop.add_callback(time.sleep, 2)  # the event loop busy: the call waits to start
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    client.sync(call)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
time.sleep(2.5)  # the loop has run the client's cancelling by now
client.close()
"""


def test_ctrl_c_while_a_dask_call_waits_to_start_prints_no_traceback():
    """Dask's client, interrupted before the call it waits for has started, cancels it with a
    callback that raises NameError on its event loop, logged with a traceback; the command
    silences the event loop's errors once Ctrl-C arrives."""
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_BEFORE_THE_CALL_STARTS],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "interrupted" in done.stderr
    assert "Traceback" not in done.stderr and "NameError" not in done.stderr


def test_part_names_sort_and_read_back_at_any_count(tmp_path):
    names = [part_name(index, 250_000) for index in (0, 9, 99_999, 100_000, 249_999)]

    assert names == sorted(names)
    assert names[3] == "part-100000.parquet" and names[0] == "part-000000.parquet"
    (tmp_path / "scores").mkdir()
    for name in names:
        (tmp_path / "scores" / name).write_bytes(b"")
    assert OutputDir(str(tmp_path)).finished_parts() == {0, 9, 99_999, 100_000, 249_999}
    assert part_name(7, 10) == "part-00007.parquet"


def test_dask_still_warns_of_tasks_cut_short_at_close_as_rollscore_quiets():
    """The text :data:`CANCELLED_AT_CLOSE` filters is Dask's own, not a public API."""
    source = inspect.getsource(distributed.worker_state_machine)

    assert f'{CANCELLED_AT_CLOSE}")' in source
