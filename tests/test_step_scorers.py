"""A step's partitions scored by the workers' scorers (Dask actors) on a real cluster: the same
scores as the same partitions scored as tasks, over many hostile batches; no task on a cluster
of single-threaded workers; tasks on one whose workers have several threads."""

from __future__ import annotations

import random

import pandas as pd
import pytest
from adversarial_latex import GOLDS, adversarial_answers
from distributed import Client, LocalCluster, get_task_stream

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
    answers = adversarial_answers(size, seed)
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


def test_a_step_on_single_threaded_workers_runs_no_task(client):
    responses = ["<think>t</think><answer>1</answer>", "<answer>1</answer>", "x"] * 10
    conversations = [[{"role": "assistant", "content": r}] for r in responses]
    config = {"reward_functions": [{"name": "format", "weight": 1.0}]}
    with VLMEnvironment(config, client) as environment, get_task_stream(client) as tasks:
        result = environment.step(conversations, [{"ground_truth": "1"}] * len(responses))

    assert tasks.data == []
    assert result.rewards.tolist() == [format_reward("1", r)[0] for r in responses]


def test_a_step_on_workers_of_several_threads_is_scored_as_tasks():
    responses = ["<think>t</think><answer>1</answer>", "<answer>1</answer>", "x"] * 10
    conversations = [[{"role": "assistant", "content": r}] for r in responses]
    config = {"reward_functions": [{"name": "format", "weight": 1.0}]}
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        VLMEnvironment(config, client) as environment,
        get_task_stream(client) as tasks,
    ):
        result = environment.step(conversations, [{"ground_truth": "1"}] * len(responses))

    assert len(tasks.data) == 2  # one per partition, one partition per thread
    assert result.rewards.tolist() == [format_reward("1", r)[0] for r in responses]
