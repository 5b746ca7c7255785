"""Whole scoring runs on a real Dask cluster, checked row by row against the rewards."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster
from rollscore.pipeline.cluster import local_cluster
from rollscore.pipeline.errors import OutputExists
from rollscore.pipeline.estimators import pass_at_k
from rollscore.pipeline.output import MANIFEST, OutputDir
from rollscore.pipeline.run import prepare_job, run_job, score_rollouts
from rollscore.rewards import (
    ConfigError,
    combine_reward_functions,
    exact_answer_alphanumeric_reward,
    format_reward,
    math_expression_reward,
)

pytestmark = pytest.mark.slow  # every test here runs on a real Dask cluster

CONFIG = {
    "reward_functions": [{"name": "format", "weight": 0.2}, {"name": "math_expr", "weight": 0.8}]
}
MATH = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in open(path)]


def test_a_corpus_comes_out_one_row_per_input_row_scored_as_the_rewards_score_it(
    corpus_path, client, tmp_path
):
    rows = read_jsonl(corpus_path)

    result = score_rollouts(
        [str(corpus_path)], CONFIG, str(tmp_path / "out"), client=client, partition_rows=64
    )

    scores = pd.read_parquet(tmp_path / "out" / "scores")
    assert result.rows == len(rows) == len(scores) == 320
    assert result.partitions == 5
    assert sorted(os.listdir(tmp_path / "out" / "scores")) == [
        f"part-{i:05d}.parquet" for i in range(5)
    ]
    assert scores["id"].tolist() == [row["id"] for row in rows]
    assert scores["prompt"].tolist() == [row["prompt"] for row in rows]
    expected = [MATH(row["ground_truth"], row["response"]) for row in rows]
    assert scores["reward"].tolist() == [reward for reward, _ in expected]
    assert scores["correct"].tolist() == [correct for _, correct in expected]
    assert scores["reward_format"].tolist() == [
        format_reward("", row["response"])[0] for row in rows
    ]
    assert scores["error"].isna().all()


def test_metrics_json_holds_the_seed_metrics_and_pass_at_k_of_the_dataset(
    corpus_path, client, tmp_path
):
    score_rollouts([str(corpus_path)], CONFIG, str(tmp_path / "out"), client=client)

    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    scores = pd.read_parquet(tmp_path / "out" / "scores")
    masked = scores["reward"] * scores["is_end"]
    assert metrics["rows"] == metrics["num_problems_in_batch"] == 320
    assert metrics["accuracy"] == pytest.approx(masked.mean())
    correct_and_ended = scores["correct"] & scores["is_end"]
    assert metrics["fraction_correct"] == pytest.approx(correct_and_ended.mean())
    assert metrics["fraction_of_samples_properly_ended"] == pytest.approx(scores["is_end"].mean())
    assert metrics["generation_lengths"] == pytest.approx(scores["generation_length"].mean())
    solved = scores[masked == 1]
    assert metrics["correct_solution_generation_lengths"] == pytest.approx(
        (solved["generation_length"] - solved["prompt_length"]).mean()
    )
    by_prompt = scores.assign(masked=masked, solved=scores["correct"] & scores["is_end"]).groupby(
        "prompt"
    )
    assert metrics["pass@samples_per_prompt"] == pytest.approx(
        (by_prompt["masked"].max() > 0).mean()
    )
    assert metrics["samples_per_prompt"] == 8 and metrics["num_prompts"] == 40
    for k in (1, 2, 4, 8):
        expected = by_prompt["solved"].sum().map(lambda c, k=k: pass_at_k(8, int(c), k)).mean()
        assert metrics["pass@k"][str(k)] == pytest.approx(expected)
    assert set(metrics["pass@k"]) == {"1", "2", "4", "8"}
    assert metrics["mean_reward_math_expr"] == pytest.approx(scores["reward_math_expr"].mean())
    assert metrics["errors"] == metrics["timeouts"] == 0
    math_rows = scores[scores["data_source"] == "synthetic_math"]
    by_source = metrics["by_data_source"]["synthetic_math"]
    assert by_source["rows"] == len(math_rows)
    assert by_source["fraction_correct"] == pytest.approx(
        (math_rows["correct"] & math_rows["is_end"]).mean()
    )
    assert sum(source["rows"] for source in metrics["by_data_source"].values()) == 320


def test_parquet_message_logs_per_source_rewards_and_carried_columns(client, tmp_path):
    conversations = [
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<answer>B</answer>"}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<answer>12</answer>"}],
        [{"role": "user", "content": "q"}],
    ]
    table = pa.table(
        {
            "message_log": conversations,
            "ground_truth": ["b", "12", "3"],
            "data_source": ["choice", "math", "math"],
            "step": [7, 7, 8],
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    config = {
        **CONFIG,
        "by_data_source": {"choice": {"reward_functions": [{"name": "exact_alnum", "weight": 1}]}},
    }

    score_rollouts([str(tmp_path / "in.parquet")], config, str(tmp_path / "out"), client=client)

    scores = pd.read_parquet(tmp_path / "out" / "scores")
    assert scores["step"].tolist() == [7, 7, 8]
    assert scores["message_log"].map(len).tolist() == [2, 2, 1]
    assert scores["reward"].tolist() == [
        exact_answer_alphanumeric_reward("b", "<answer>B</answer>")[0],
        MATH("12", "<answer>12</answer>")[0],
        0.0,
    ]
    assert scores["error"].tolist()[2] == "message_log has no assistant message"
    assert scores["error_kind"].isna().tolist() == [True, True, False]
    assert scores["error_kind"].tolist()[2] == "bad_input"


def test_fsspec_memory_urls_in_and_out(tmp_path):
    import fsspec

    memory = fsspec.filesystem("memory")
    with memory.open("/rollouts/r.jsonl", "w") as handle:
        handle.write(json.dumps({"ground_truth": "5", "response": "<answer>5</answer>"}) + "\n")
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as in_process,
    ):
        score_rollouts(["memory://rollouts/"], CONFIG, "memory://scored", client=in_process)

    with memory.open("/scored/scores/part-00000.parquet", "rb") as handle:
        assert pd.read_parquet(handle)["reward"].tolist() == [0.2 * 0.75 + 0.8 * 1.0]
    assert json.loads(memory.cat("/scored/metrics.json"))["rows"] == 1
    memory.rm("/rollouts", recursive=True)
    memory.rm("/scored", recursive=True)


def test_an_output_with_results_is_refused_unless_resumed_or_overwritten(
    corpus_path, client, tmp_path
):
    out = str(tmp_path / "out")
    score_rollouts([str(corpus_path)], CONFIG, out, client=client)

    with pytest.raises(OutputExists, match="already holds results"):
        prepare_job([str(corpus_path)], CONFIG, out)
    again = score_rollouts([str(corpus_path)], CONFIG, out, client=client, overwrite=True)
    assert again.rows == 320


def test_resuming_scores_only_the_missing_parts_and_keeps_each_row_once(
    corpus_path, client, tmp_path
):
    out = tmp_path / "out"
    first = score_rollouts([str(corpus_path)], CONFIG, str(out), client=client, partition_rows=32)
    (out / "scores" / "part-00002.parquet").unlink()  # as if the run stopped before these
    (out / "scores" / "part-00007.parquet").unlink()
    (out / "metrics.json").unlink()

    resumed = run_job(prepare_job([str(corpus_path)], CONFIG, str(out), resume=True), client)

    assert (first.partitions, resumed.partitions, resumed.partitions_scored) == (10, 10, 2)
    scores = pd.read_parquet(out / "scores")
    assert scores["id"].tolist() == [row["id"] for row in read_jsonl(corpus_path)]
    assert resumed.metrics == {**first.metrics, "run": resumed.metrics["run"]}


def test_resuming_with_another_config_is_refused(corpus_path, client, tmp_path):
    out = str(tmp_path / "out")
    score_rollouts([str(corpus_path)], CONFIG, out, client=client)
    other = {"reward_functions": [{"name": "format", "weight": 1}]}

    with pytest.raises(ConfigError, match="config differs"):
        prepare_job([str(corpus_path)], other, out, resume=True)
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["finished"] is True


def test_a_worker_killed_mid_run_costs_no_rows(corpus_path, tmp_path):
    rows = read_jsonl(corpus_path)
    out = OutputDir(str(tmp_path / "out"))
    with (
        local_cluster(2, "127.0.0.1:0") as cluster,
        Client(cluster) as own,
    ):
        outcome: dict[str, object] = {}
        run = threading.Thread(
            target=lambda: outcome.update(
                result=score_rollouts(
                    [str(corpus_path)], CONFIG, out.url, client=own, partition_rows=16
                )
            )
        )
        run.start()
        deadline = time.monotonic() + 60
        while not out.finished_parts() and time.monotonic() < deadline:
            time.sleep(0.05)
        parts_before_kill = len(out.finished_parts())
        victim = next(iter(own.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)
        run.join(timeout=300)

    assert not run.is_alive()
    assert 0 < parts_before_kill < 20  # the kill landed while partitions were still pending
    scores = pd.read_parquet(tmp_path / "out" / "scores")
    assert scores["id"].tolist() == [row["id"] for row in rows]
    assert scores["reward"].tolist() == [
        MATH(row["ground_truth"], row["response"])[0] for row in rows
    ]
    assert outcome["result"].rows == len(rows)
