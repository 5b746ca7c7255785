"""Users' ``"package.module:function"`` rewards run in the scoring processes: one that raises,
returns a non-number, hangs, exits, crashes or allocates without limit costs its own row only,
with the error kind that says which."""

from __future__ import annotations

import json
import math
import os
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from commands import alive, finished, wait_for
from rollscore.rewards import load_config, score_batch
from rollscore.rewards.verifier.pool import scoring_processes


def values(column: pd.Series) -> list[object]:
    """A column as plain Python values, missing ones as None."""
    return [None if pd.isna(value) else value for value in column.tolist()]


SHAPES = textwrap.dedent(
    '''
    """Rewards that return every wrong shape, keyed by the response."""

    import numpy


    def shaped(ground_truth, response):
        return {
            "numpy_bool": (numpy.bool_(True), True),
            "nan": (float("nan"), True),
            "inf": (float("inf"), None),
            "text": ("1.0", True),
            "single": (1.0,),
            "triple": (1.0, True, "extra"),
            "bare": 1.0,
            "bool": (True, True),
            "flag": (1.0, "yes"),
            "fine": (0.5, True),
            "list": [0.25, None],
            "numpy": (numpy.float32(0.5), numpy.bool_(True)),
        }[response]
    '''
)


def test_a_reward_that_is_not_a_number_costs_its_row_as_bad_reward(module_dir):
    (module_dir / "shaped_rewards.py").write_text(SHAPES)
    config = load_config(
        {
            "reward_functions": [
                {"name": "shaped_rewards:shaped", "weight": 1},
                {"name": "format", "weight": 1},
            ]
        }
    )
    responses = [
        "nan", "inf", "text", "single", "triple", "bare", "bool", "flag", "numpy_bool",
        "fine", "list", "numpy",
    ]  # fmt: skip

    scores = score_batch(config, ["x"] * len(responses), responses)

    assert scores.reward == [0.0] * 9 + [0.25, 0.125, 0.25]
    assert scores.correct == [False] * 9 + [True, True, True]
    assert scores.error_kind == ["bad_reward"] * 9 + [None, None, None]
    name = "shaped_rewards:shaped"
    assert scores.error == [
        f"{name} returned reward nan, not a finite number",
        f"{name} returned reward inf, not a finite number",
        f"{name} returned reward '1.0', not a number",
        f"{name} returned (1.0,), not a (reward, correct) pair",
        f"{name} returned (1.0, True, 'extra'), not a (reward, correct) pair",
        f"{name} returned 1.0, not a (reward, correct) pair",
        f"{name} returned reward True, not a number",
        f"{name} returned correct 'yes', not True, False or None",
        f"{name} returned reward np.True_, not a number",
        None,
        None,
        None,
    ]
    shaped = scores.components["reward_shaped"]
    assert all(math.isnan(value) for value in shaped[:9]) and shaped[9:] == [0.5, 0.25, 0.5]
    assert scores.components["reward_format"] == [0.0] * 12  # the other reward kept its value


HOSTILE = textwrap.dedent(
    '''
    """A reward that misbehaves in every way a process can, keyed by a word in the response."""

    import ctypes
    import os
    import signal
    import time


    def hostile(ground_truth, response):
        if "<hang>" in response:
            time.sleep(3600)
        if "<deaf>" in response:  # blocks the alarm: only a kill stops it
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(3600)
        if "<exit>" in response:
            os._exit(3)
        if "<segfault>" in response:
            ctypes.string_at(0)
        if "<hog>" in response:  # calloc'd: address space, without writing to its pages
            blocks = []
            while True:
                blocks.append(bytes(64 * 2**20))
        if "<raise>" in response:
            raise RuntimeError("refused")
        return (1.0 if ground_truth in response else 0.0), None
    '''
)
HOSTILE_ROWS = [
    ("fine", "<think>t</think><answer>fine</answer>", None),
    ("a", "<hang> a", "timeout"),
    ("b", "<deaf> b", "timeout"),
    ("c", "<exit> c", "reward_crashed"),
    ("d", "<segfault> d", "reward_crashed"),
    ("e", "<hog> e", "reward_crashed"),
    ("f", "<raise> f", "reward_exception"),
    ("also fine", "<think>t</think><answer>also fine</answer>", None),
]
HOSTILE_ERRORS = [
    None,
    "hostile_rewards:hostile took over 1 s",
    "hostile_rewards:hostile took over 1 s and was stopped",
    "hostile_rewards:hostile crashed: its scoring process exited with code 3",
    "hostile_rewards:hostile crashed: its scoring process was killed by signal 11",
    "hostile_rewards:hostile ran out of memory (over 1,024 MB)",
    "hostile_rewards:hostile raised RuntimeError: refused",
    None,
]


def score_in_a_cli_run(
    tmp_path: Path, module: str, source: str, rows: list[dict], config: str, **variables: str
) -> subprocess.CompletedProcess:
    """``rollscore score`` of ``rows`` with one worker and ``config``, the module ``module`` of
    ``source`` importable, and the environment ``variables`` set."""
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / f"{module}.py").write_text(source)
    (tmp_path / "rollouts.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "config.yaml").write_text(config)
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "modules"), **variables}
    return finished(
        "score", str(tmp_path / "rollouts.jsonl"), "--config", str(tmp_path / "config.yaml"),
        "--output", str(tmp_path / "out"), "--workers", "1", env=environment,
    )  # fmt: skip


@pytest.mark.slow
def test_hostile_user_rewards_cost_their_rows_only_in_a_cli_run(tmp_path):
    rows = [
        {"id": index, "ground_truth": truth, "response": response}
        for index, (truth, response, _) in enumerate(HOSTILE_ROWS)
    ]
    config = (
        "sample_timeout: 1\n"
        "sample_memory_mb: 1024\n"
        "reward_functions:\n"
        "  - {name: 'hostile_rewards:hostile', weight: 0.5}\n"
        "  - {name: format, weight: 0.5}\n"
    )

    started = time.monotonic()
    done = score_in_a_cli_run(tmp_path, "hostile_rewards", HOSTILE, rows, config)
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stderr
    scores = pd.read_parquet(tmp_path / "out" / "scores")
    assert scores["id"].tolist() == list(range(len(HOSTILE_ROWS)))
    assert scores["reward"].tolist() == [1.0] + [0.0] * 6 + [1.0]
    assert values(scores["error_kind"]) == [kind for _, _, kind in HOSTILE_ROWS]
    assert values(scores["error"]) == HOSTILE_ERRORS
    # each bad row costs at most twice the limit, the kill's grace and two child starts
    assert elapsed < 120
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["errors"] == 6 and metrics["timeouts"] == 2
    assert metrics["errors_by_kind"]["reward_crashed"] == 3


@pytest.mark.slow
def test_shutdown_stops_a_busy_scoring_process(module_dir):
    started = module_dir / "started"
    (module_dir / "sleepy_rewards.py").write_text(
        "import os, time\n\n"
        "def sleepy(ground_truth, response):\n"
        f"    open({str(started)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n"
    )
    config = load_config(
        {"sample_timeout": 2, "reward_functions": [{"name": "sleepy_rewards:sleepy", "weight": 1}]}
    )
    outcome = {}
    scoring = threading.Thread(
        target=lambda: outcome.update(scores=score_batch(config, ["a"], ["a"]))
    )
    scoring.start()
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # until the function runs in its scoring process
    time.sleep(0.1)
    busy = int(started.read_text())

    scoring_processes.shutdown()

    assert not psutil.pid_exists(busy)  # killed and reaped, not left to sleep
    scoring.join(timeout=60)  # its second try, on a fresh process, times out
    assert not scoring.is_alive()
    assert outcome["scores"].error_kind == ["timeout"]


SPAWNING = textwrap.dedent(
    '''
    """A reward that starts a long-lived process of its own, then hangs, exits or returns."""

    import os
    import subprocess
    import sys
    import time


    def spawning(ground_truth, response):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(os.environ["SPAWNED_PIDS"], "a") as handle:
            handle.write(f"{child.pid}\\n")
        if "<hang>" in response:
            time.sleep(3600)
        if "<exit>" in response:
            os._exit(3)
        return 1.0, True
    '''
)


@pytest.mark.slow
def test_processes_a_user_reward_starts_end_with_the_run(tmp_path):
    rows = [{"ground_truth": "a", "response": response} for response in ("a", "<hang>", "<exit>")]
    config = "sample_timeout: 1\nreward_functions: [{name: 'spawning_rewards:spawning', weight: 1}]"
    pids = tmp_path / "spawned"

    done = score_in_a_cli_run(
        tmp_path, "spawning_rewards", SPAWNING, rows, config, SPAWNED_PIDS=str(pids)
    )

    assert done.returncode == 0, done.stderr
    kinds = values(pd.read_parquet(tmp_path / "out" / "scores")["error_kind"])
    assert kinds == [None, "timeout", "reward_crashed"]
    spawned = [int(line) for line in pids.read_text().split()]
    assert len(spawned) == 5  # the fine row, and the others twice each
    wait_for(lambda: not any(map(alive, spawned)), timeout=10)


@pytest.mark.slow
def test_huge_rewards_of_a_user_function_print_in_a_short_summary(tmp_path):
    source = "def huge(ground_truth, response):\n    return float(response), True\n"
    rows = [{"ground_truth": "1", "response": text} for text in ("1e308", "1e308", "-1e308")]
    config = "reward_functions: [{name: 'huge_rewards:huge', weight: 1}]"

    done = score_in_a_cli_run(tmp_path, "huge_rewards", source, rows, config)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2].split() == [
        "all", "3", "0", "0", "3.33e+307", "1.000", "1.000", "0.000"
    ]  # fmt: skip
