"""The ``rollscore`` command as a user runs it: exit codes, messages, real clusters."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client
from rollscore.pipeline.cli import main
from rollscore.rewards import (
    bbox_giou_reward,
    combine_reward_functions,
    exact_answer_alphanumeric_reward,
    format_reward,
    math_expression_reward,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIG_YAML = (
    "reward_functions:\n  - {name: format, weight: 0.2}\n  - {name: math_expr, weight: 0.8}\n"
)


def rollscore(*arguments: str, **options) -> subprocess.CompletedProcess:
    """Run the installed command line in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "rollscore.pipeline.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        **options,
    )


def expected_example_rewards(rows: list[dict]) -> list[float]:
    """The example's rewards computed with the reward functions directly, per data source."""
    combined = {
        "choice": combine_reward_functions(
            [(format_reward, 0.2), (exact_answer_alphanumeric_reward, 0.8)]
        ),
        "bbox": combine_reward_functions([(format_reward, 0.2), (bbox_giou_reward, 0.8)]),
    }
    default = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
    rewards = []
    for row in rows:
        response = row.get("response")
        if response is None and "message_log" in row:
            response = "".join(m["content"] for m in row["message_log"] if m["role"] == "assistant")
        if not isinstance(row.get("ground_truth"), str) or not isinstance(response, str):
            rewards.append(0.0)
            continue
        rewards.append(combined.get(row["data_source"], default)(row["ground_truth"], response)[0])
    return rewards


def example_rows() -> list[dict]:
    rows = []
    for line in (EXAMPLES / "rollouts.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append({})
    return rows


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG_YAML)
    return path


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ("reward_functions: [{name: math_exp, weight: 1}]\n", "unknown reward function 'math_exp'"),
        ("reward_functions: [{name: format, weight: -1}]\n", "weight -1 must be finite and >= 0"),
        ("reward_functions: []\n", "must be a non-empty list"),
        ("reward_functions: [{name: format, weight: 1}\n", "is not valid YAML"),
        (
            "reward_functions: [{name: format, weight: 1}]\n"
            "reward_functions: [{name: math_expr, weight: 1}]\n",
            "line 2 column 1 is not valid YAML: key 'reward_functions' is given twice",
        ),
        (
            "reward_functions: [{name: format, weight: 1}]\n? [a, b]\n: 1\n",
            "is not valid YAML: found unhashable key",
        ),
    ],
)
def test_a_bad_config_exits_2_with_one_line_before_any_work(tmp_path, capsys, config_text, message):
    config = tmp_path / "config.yaml"
    config.write_text(config_text)

    code = main(
        [
            "score",
            str(EXAMPLES / "rollouts.jsonl"),
            "--config",
            str(config),
            "--output",
            str(tmp_path / "out"),
        ]
    )

    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith("rollscore: error: ") and message in error
    assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda tmp: tmp / "missing.jsonl", "no such file or directory"),
        (lambda tmp: (tmp / "notes.txt").write_text("x") and tmp / "notes.txt", "unknown format"),
        (lambda tmp: tmp, "or .parquet files found"),
    ],
)
def test_an_unreadable_input_exits_2_with_one_line(
    tmp_path, capsys, config_file, make_input, message
):
    given = make_input(tmp_path)

    code = main(
        ["score", str(given), "--config", str(config_file), "--output", str(tmp_path / "out")]
    )

    error = capsys.readouterr().err
    assert code == 2 and message in error and len(error.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            ["--scheduler", "garbage"],
            "rollscore: error: the scheduler address 'garbage' is not one: missing port number "
            "in address 'garbage'",
        ),
        (
            ["--dashboard-address", "nonsense"],
            "argument --dashboard-address: expected HOST:PORT (a port of 0 to 65535), got "
            "'nonsense'",
        ),
        (
            ["--dashboard-address", "no-such-host.invalid:8787"],
            "argument --dashboard-address: cannot resolve 'no-such-host.invalid'",
        ),
        (
            ["--performance-report", "."],
            "argument --performance-report: '.' is a folder; name a file",
        ),
        (
            ["--performance-report", "o/scores/part-00000.parquet"],
            "argument --performance-report: 'o/scores/part-00000.parquet' does not end in .html; "
            "the report is an HTML page: name one",
        ),
    ],
    ids=["scheduler", "dashboard-form", "dashboard-host", "report-folder", "report-not-html"],
)
def test_a_cluster_address_or_file_that_is_none_exits_2_with_one_line_before_any_work(
    tmp_path, capsys, config_file, option, message
):
    given = [str(EXAMPLES / "rollouts.jsonl"), "--config", str(config_file)]

    try:
        code = main(["score", *given, "--output", str(tmp_path / "o"), *option])
    except SystemExit as leaving:  # argparse's own exit
        code = leaving.code

    assert code == 2
    error = capsys.readouterr().err
    assert error.strip().splitlines()[-1].endswith(message) and "Traceback" not in error


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_serve_port_that_is_none_exits_2_with_one_line_before_any_cluster(
    capsys, config_file, port
):
    with pytest.raises(SystemExit) as leaving:  # argparse's own exit
        main(["serve", "--config", str(config_file), "--port", port])

    assert leaving.value.code == 2
    error = capsys.readouterr().err
    assert (
        error.strip()
        .splitlines()[-1]
        .endswith(f"argument --port: expected a port of 0 to 65535, got {port!r}")
    )


def test_a_report_named_like_a_file_of_another_kind_is_refused_and_the_file_kept(tmp_path, capsys):
    rollouts = tmp_path / "rollouts.jsonl"
    rollouts.write_bytes((EXAMPLES / "rollouts.jsonl").read_bytes())

    with pytest.raises(SystemExit) as leaving:  # argparse's own exit
        main(["report", str(tmp_path / "o"), "--output", str(rollouts)])

    assert leaving.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .endswith(
            f"argument --output: {str(rollouts)!r} does not end in .html; the report is an HTML "
            "page: name one"
        )
    )
    assert rollouts.read_bytes() == (EXAMPLES / "rollouts.jsonl").read_bytes()


def test_a_missing_config_file_exits_2(tmp_path, capsys):
    code = main(
        [
            "score",
            str(EXAMPLES / "rollouts.jsonl"),
            "--config",
            str(tmp_path / "nope.yaml"),
            "--output",
            str(tmp_path / "o"),
        ]
    )

    assert code == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_a_config_that_never_ends_is_refused_in_one_line_not_read_whole(tmp_path, capsys):
    given = [str(EXAMPLES / "rollouts.jsonl"), "--output", str(tmp_path / "o")]

    code = main(["score", *given, "--config", "/dev/zero"])

    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "rollscore: error: config file /dev/zero holds more than 8 MB, more than any config: "
        "is it the right file?"
    ]


def test_metrics_of_a_folder_that_is_not_a_scored_dataset_exits_2(tmp_path, capsys):
    assert main(["metrics", str(tmp_path)]) == 2
    assert "is not a scored dataset" in capsys.readouterr().err


@pytest.mark.slow
def test_the_example_scores_on_a_local_cluster_with_a_summary_and_a_performance_report(tmp_path):
    out = tmp_path / "out"
    report = tmp_path / "performance.html"

    done = rollscore(
        "score",
        str(EXAMPLES / "rollouts.jsonl"),
        "--config",
        str(EXAMPLES / "config.yaml"),
        "--output",
        str(out),
        "--workers",
        "1",
        "--performance-report",
        str(report),
    )

    assert done.returncode == 0, done.stderr
    assert "Dask dashboard: http://127.0.0.1:" in done.stderr
    assert "partitions" in done.stderr  # the progress line
    summary = done.stdout.splitlines()
    assert summary[0].split() == [
        "data",
        "source",
        "rows",
        "errors",
        "timeouts",
        "accuracy",
        "correct",
        "pass@1",
        "maj@4",
    ]
    assert summary[-2].split()[:3] == ["all", "27", "2"]
    scores = pd.read_parquet(out / "scores")
    assert scores["reward"].tolist() == expected_example_rewards(example_rows())
    assert scores["error"].notna().sum() == 2
    assert report.read_text().lstrip().lower().startswith("<!doctype html")

    again = rollscore(
        "score",
        str(EXAMPLES / "rollouts.jsonl"),
        "--config",
        str(EXAMPLES / "config.yaml"),
        "--output",
        str(out),
    )
    assert again.returncode == 2
    assert (
        again.stderr.strip() == f"rollscore: error: output {out} already holds results: "
        "use --resume, --overwrite or a new folder"
    )

    metrics_before = json.loads((out / "metrics.json").read_text())
    recomputed = rollscore("metrics", str(out), "--workers", "1")
    assert recomputed.returncode == 0, recomputed.stderr
    assert json.loads((out / "metrics.json").read_text()) == metrics_before

    (out / "scores" / "part-00000.parquet").unlink()
    replaced = rollscore(
        "score", str(EXAMPLES / "rollouts.jsonl"), "--config", str(EXAMPLES / "config.yaml"),
        "--output", str(out), "--workers", "1", "--overwrite",
    )  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    assert pd.read_parquet(out / "scores")["reward"].tolist() == scores["reward"].tolist()


@pytest.mark.slow
def test_the_cli_on_an_existing_scheduler_scores_row_by_row_and_leaves_the_cluster_up(
    dask_processes, corpus_path, config_file, tmp_path
):
    rows = [json.loads(line) for line in corpus_path.read_text().splitlines()]

    done = rollscore(
        "score",
        str(corpus_path),
        "--config",
        str(config_file),
        "--output",
        str(tmp_path / "out"),
        "--scheduler",
        dask_processes,
        "--partition-rows",
        "40",
    )

    assert done.returncode == 0, done.stderr
    scores = pd.read_parquet(tmp_path / "out" / "scores")
    combined = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
    assert scores["id"].tolist() == [row["id"] for row in rows]
    assert scores["reward"].tolist() == [
        combined(row["ground_truth"], row["response"])[0] for row in rows
    ]
    assert scores["correct"].tolist() == [
        combined(row["ground_truth"], row["response"])[1] for row in rows
    ]
    with Client(dask_processes) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        assert client.submit(sum, [1, 2]).result() == 3


@pytest.mark.slow
def test_an_interrupted_run_resumes_and_holds_each_row_once(
    dask_processes, corpus_path, config_file, tmp_path
):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "rollscore.pipeline.cli",
        "score",
        str(corpus_path),
        "--config",
        str(config_file),
        "--output",
        str(out),
        "--scheduler",
        dask_processes,
        "--partition-rows",
        "8",
    ]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "scores").glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=120)
    written = len(list((out / "scores").glob("part-*.parquet")))

    assert first.returncode == 130, stderr
    assert "--resume" in stderr
    assert 3 <= written < 40

    resumed = rollscore(*command[3:], "--resume")

    assert resumed.returncode == 0, resumed.stderr
    scores = pd.read_parquet(out / "scores")
    ids = [json.loads(line)["id"] for line in corpus_path.read_text().splitlines()]
    assert scores["id"].tolist() == ids
    assert json.loads((out / "run.json").read_text())["finished"] is True


@pytest.mark.slow
def test_a_scoring_process_that_cannot_start_stops_the_run_with_its_reason(
    tmp_path, broken_math_verify
):
    started = time.monotonic()
    done = rollscore(
        "score", str(EXAMPLES / "rollouts.jsonl"), "--config", str(EXAMPLES / "config.yaml"),
        "--output", str(tmp_path / "out"), "--workers", "1",
    )  # fmt: skip

    assert time.monotonic() - started < 60  # at once, not the start-up limit per row
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "rollscore: error: the scoring process could not start (exit code 1): "
        "ImportError: this math_verify is broken"
    )
    assert "Traceback" not in done.stderr
    assert not list((tmp_path / "out" / "scores").glob("part-*.parquet"))  # nothing half-scored


@pytest.mark.slow
def test_a_nemo_rl_experiment_section_scores_as_its_training_run_would(tmp_path):
    (tmp_path / "parent.yaml").write_text("env:\n  math: {num_workers: 8}\ncluster: {gpus: 2}\n")
    experiment = tmp_path / "vlm_grpo.yaml"
    experiment.write_text(
        'defaults: "parent.yaml"\n'
        "policy: {model_name: Qwen/Qwen2.5-VL-3B-Instruct}\n"
        "env:\n"
        "  refcoco:\n"
        "    num_workers: ${cluster.gpus}\n"
        "    reward_functions:\n"
        "    - {name: format, weight: 0.1}\n"
        "    - {name: bbox_giou, weight: 0.9, kwargs: {giou_penalty_thres: 0.5}}\n"
    )

    done = rollscore(
        "score", str(EXAMPLES / "rollouts.jsonl"), "--config", str(experiment),
        "--config-section", "env.refcoco", "--output", str(tmp_path / "out"), "--workers", "1",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    combined = combine_reward_functions(
        [(format_reward, 0.1), (partial(bbox_giou_reward, giou_penalty_thres=0.5), 0.9)]
    )
    expected = []
    for row in example_rows():
        truth, response = row.get("ground_truth"), row.get("response")
        if response is None and "message_log" in row:
            response = "".join(m["content"] for m in row["message_log"] if m["role"] == "assistant")
        ok = isinstance(truth, str) and isinstance(response, str)
        expected.append(combined(truth, response)[0] if ok else 0.0)
    assert pd.read_parquet(tmp_path / "out" / "scores")["reward"].tolist() == expected
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["config"]["num_workers"] == 2
    assert [entry["name"] for entry in run["config"]["reward_functions"]] == ["format", "bbox_giou"]


def test_a_missing_experiment_section_exits_2_naming_what_there_is(tmp_path, capsys):
    experiment = tmp_path / "grpo.yaml"
    experiment.write_text("env:\n  vlm: {reward_functions: [{name: format, weight: 1}]}\n")

    code = main(
        ["score", str(EXAMPLES / "rollouts.jsonl"), "--config", str(experiment),
         "--config-section", "env.vllm", "--output", str(tmp_path / "out")]
    )  # fmt: skip

    assert code == 2
    assert capsys.readouterr().err == (
        f"rollscore: error: config file {experiment} has no section 'env.vllm' ('env' has: vlm)\n"
    )


@pytest.mark.slow
def test_a_small_input_is_scored_inside_the_command_with_one_scoring_process_per_thread(
    tmp_path,
):
    """Starting worker processes would cost a small run more than its scoring."""
    import psutil

    arguments = [
        sys.executable, "-m", "rollscore.pipeline.cli", "score", str(EXAMPLES / "rollouts.jsonl"),
        "--config", str(EXAMPLES / "config.yaml"), "--output", str(tmp_path / "out"),
        "--workers", "2", "--partition-rows", "1",
    ]  # fmt: skip
    run = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    command, seen = psutil.Process(run.pid), set()
    # The command's line as given: read from /proc at once, it may still be empty (Popen
    # returns once exec has begun, before the new program's arguments are in place).
    own_line = " ".join(arguments)
    while run.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            seen.update(" ".join(child.cmdline()) for child in command.children())
        time.sleep(0.02)

    assert run.returncode == 0
    seen.discard("")  # a child that has exited and is not reaped yet shows no command line
    seen.discard(own_line)  # a scoring process caught between its fork and its exec
    scoring = {line for line in seen if "rollscore.rewards.verifier.scoring_process" in line}
    assert len(scoring) == 2, seen  # started with the command, one per thread, never replaced
    # and no Dask worker processes: every Python child scores. Other children come and go
    # (distributed's version report runs `uname -p` through platform.uname()).
    python_children = {line for line in seen if line.startswith(f"{sys.executable} ")}
    assert python_children == scoring, seen
    scores = pd.read_parquet(tmp_path / "out" / "scores")
    assert scores["reward"].tolist() == expected_example_rewards(example_rows())
