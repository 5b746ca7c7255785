"""A step's partitions scored by the workers' scorers (Dask actors) on a real cluster: the same
scores as the same partitions scored as tasks, over many hostile batches; no task on a cluster
of single-threaded workers; tasks on one whose workers have several threads."""

from __future__ import annotations

import random
import time

import pandas as pd
import pytest
from adversarial_latex import GOLDS, adversarial_answers
from distributed import Client, LocalCluster, get_task_stream

import env.step_scorers
from env import VLMEnvironment
from env.scoring import STEP_COLUMNS, score_frame
from env.step_input import step_frame
from env.step_scorers import StepScorers
from pipeline.partition import partition_scores
from rewards import format_reward, load_config

pytestmark = pytest.mark.slow  # every test here scores on a real Dask cluster

CONFIG = load_config(
    {
        "reward_functions": [
            {"name": "format", "weight": 0.2},
            {"name": "math_expr", "weight": 0.5},
            {"name": "exact_alnum", "weight": 0.3},
        ],
        "by_data_source": {"boxes": {"reward_functions": [{"name": "bbox_giou", "weight": 1}]}},
    }
)
HOSTILE_RESPONSES = [
    "",
    "\x00",
    "\ud800<answer>1</answer>",
    "<answer>\u202e1</answer>",
    "<think>" * 200 + "<answer>2</answer>",
    "<answer>" + "9" * 5000 + "</answer>",
    "\\boxed{" * 50,
    "<think>t</think><answer>1/2</answer>" + " pad" * 20_000,
    "<answer>[0.1, 0.1, 0.3, 0.3]</answer>",
    "😀<answer>😀</answer>",
]
BAD_CONVERSATIONS = [
    [{"role": "user", "content": "no reply"}],
    [{"role": "assistant", "content": 7}],
    [{"role": "assistant", "content": [{"type": "text", "text": None}]}],
    ["not a message"],
    '[{"role": "assistant", "content": "<answer>3</answer>"}]',
    "[not json",
    None,
]
ODD_METADATA = [
    {},
    {"ground_truth": None},
    {"ground_truth": 42},
    {"ground_truth": 0.5},
    {"ground_truth": ["1"]},
    "not a mapping",
    {"ground_truth": "[0.1, 0.1, 0.3, 0.3]", "data_source": "boxes"},
    {"ground_truth": "1", "data_source": 3},
]


def hostile_batch(size: int, seed: int) -> pd.DataFrame:
    """A step's frame of ``size`` samples: adversarial LaTeX answers in every wrapping, hostile
    characters and lengths, conversations that are bad inputs and metadata of every shape."""
    rng = random.Random(seed)
    answers = adversarial_answers(size, seed, settled_only=True)
    wrappings = ["<think>t</think><answer>{}</answer>", "\\boxed{{{}}}", "{}", "<answer>{}"]
    conversations: list[object] = []
    metadata: list[object] = []
    for answer in answers:
        draw = rng.random()
        if draw < 0.1:
            conversations.append(rng.choice(BAD_CONVERSATIONS))
        else:
            text = rng.choice(HOSTILE_RESPONSES) if draw < 0.2 else rng.choice(wrappings)
            conversations.append(
                [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": text.format(answer) if "{}" in text else text},
                ]
            )
        if rng.random() < 0.15:
            metadata.append(rng.choice(ODD_METADATA))
        else:
            metadata.append(
                {"ground_truth": rng.choice(GOLDS), "data_source": rng.choice(["a", "b"])}
            )
    return step_frame(conversations, metadata)


@pytest.mark.parametrize("seed", range(6))
def test_scorers_give_exactly_the_scores_of_tasks_on_hostile_batches(client, seed):
    columns = STEP_COLUMNS + CONFIG.component_columns
    meta = partition_scores(pd.DataFrame(), CONFIG)
    scorers = StepScorers.start(client, CONFIG, 2)
    assert scorers is not None
    try:
        for size in (1, 2, 3, 17, 150):
            frame = hostile_batch(size, seed * 1000 + size)
            by_scorers = scorers.score(frame, columns)
            assert by_scorers is not None
            by_tasks = score_frame(client, frame, CONFIG, 2, meta, columns)
            pd.testing.assert_frame_equal(by_scorers, by_tasks)
    finally:
        scorers.close()


FORMAT_ONLY = {"reward_functions": [{"name": "format", "weight": 1.0}]}
RESPONSES = ["<think>t</think><answer>1</answer>", "<answer>1</answer>", "x"] * 10
CONVERSATIONS = [[{"role": "assistant", "content": response}] for response in RESPONSES]
BATCH = CONVERSATIONS, [{"ground_truth": "1"}] * len(RESPONSES)
EXPECTED = [format_reward("1", response)[0] for response in RESPONSES]


def in_process_cluster(workers: int, threads: int) -> LocalCluster:
    """A cluster of ``workers`` workers of ``threads`` threads each, in this process."""
    return LocalCluster(
        n_workers=workers, threads_per_worker=threads, processes=False, dashboard_address=None
    )


def test_a_step_on_single_threaded_workers_runs_no_task(client):
    with VLMEnvironment(FORMAT_ONLY, client) as environment, get_task_stream(client) as tasks:
        assert environment.step(*BATCH).rewards.tolist() == EXPECTED

    assert tasks.data == []


def test_a_step_on_workers_of_several_threads_is_scored_as_tasks():
    with (
        in_process_cluster(workers=1, threads=2) as cluster,
        Client(cluster) as client,
        VLMEnvironment(FORMAT_ONLY, client) as environment,
        get_task_stream(client) as tasks,
    ):
        assert environment.step(*BATCH).rewards.tolist() == EXPECTED

    assert len(tasks.data) == 2  # one per partition, one partition per thread


def test_a_cluster_that_grows_to_one_worker_per_partition_gets_scorers(monkeypatch):
    monkeypatch.setattr(env.step_scorers, "RETRY_SECONDS", 0.5)
    with (
        in_process_cluster(workers=1, threads=1) as cluster,
        Client(cluster) as client,
        VLMEnvironment({**FORMAT_ONLY, "num_workers": 2}, client) as environment,
    ):
        with get_task_stream(client) as one_worker:
            assert environment.step(*BATCH).rewards.tolist() == EXPECTED
        cluster.scale(2)
        client.wait_for_workers(2, timeout=60)
        time.sleep(0.6)  # past the pause after the scorers could not start on one worker

        assert environment.step(*BATCH).rewards.tolist() == EXPECTED  # starts them
        with get_task_stream(client) as two_workers:
            assert environment.step(*BATCH).rewards.tolist() == EXPECTED

    assert len(one_worker.data) == 2  # two partitions as tasks
    assert two_workers.data == []
