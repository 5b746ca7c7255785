"""``VLMEnvironment.step`` on a real two-worker cluster: rewards equal to scoring directly, order
kept, bad samples contained, observations from the correctness flag, a worker dying mid-step."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys
import textwrap
import threading
import time
import warnings

import pandas as pd
import pytest
import torch
from distributed import Client, get_task_stream
from rollscore.env import EnvironmentClosed, EnvironmentReturn, VLMEnvironment, VLMVerifyWorker
from rollscore.env.session import ScoringSession, partitions_by_ground_truth
from rollscore.pipeline.cluster import local_cluster
from rollscore.pipeline.errors import NoWorkers
from rollscore.rewards import (
    bbox_giou_reward,
    combine_reward_functions,
    exact_answer_alphanumeric_reward,
    format_reward,
    math_expression_reward,
)

pytestmark = pytest.mark.slow  # every test here steps on a real Dask cluster

FORMAT_AND_MATH = {
    "reward_functions": [
        {"name": "format", "weight": 0.2},
        {"name": "math_expr", "weight": 0.8},
    ]
}
HELPERS = "rollscore_env_test_rewards"
HELPERS_SOURCE = '''
"""Reward functions for the adapter's tests, uploaded to the cluster's workers."""

import os
import pathlib
import re
import time
import warnings

from rollscore.rewards import exact_answer_alphanumeric_reward, format_reward


def fragile_reward(ground_truth, response):
    """The exact-answer reward, except that it raises on a response containing "explode"."""
    if "explode" in response:
        raise RuntimeError("this response breaks the reward")
    return exact_answer_alphanumeric_reward(ground_truth, response)


def slow_format_reward(ground_truth, response):
    """The format reward, after sleeping the seconds a <sleep> tag names; first, when a <mark>
    tag names a folder, an empty file there named by the scoring worker's process id."""
    mark = re.search(r"<mark>(.+?)</mark>", response)
    if mark:  # this runs in a scoring process of the worker
        pathlib.Path(mark.group(1), str(os.getppid())).touch()
    match = re.search(r"<sleep>([0-9.]+)</sleep>", response)
    if match:
        time.sleep(float(match.group(1)))
    return format_reward(ground_truth, response)
'''


@pytest.fixture(scope="module")
def helpers(client, tmp_path_factory):
    """The helper rewards' module: importable here (configs are checked here) and uploaded to
    the workers, restarted ones included."""
    folder = tmp_path_factory.mktemp("helpers")
    path = folder / f"{HELPERS}.py"
    path.write_text(textwrap.dedent(HELPERS_SOURCE))
    sys.path.insert(0, str(folder))
    client.upload_file(str(path))
    module = __import__(HELPERS)
    yield module
    sys.path.remove(str(folder))
    sys.modules.pop(HELPERS, None)


@pytest.fixture(scope="module")
def math_env(client):
    with VLMEnvironment({**FORMAT_AND_MATH, "num_workers": 2}, client) as environment:
        yield environment


def conversation(response: object) -> list[dict[str, object]]:
    return [
        {"role": "system", "content": "Think, then answer inside <answer></answer>."},
        {"role": "user", "content": "What is the answer?"},
        {"role": "assistant", "content": response},
    ]


MATH_SAMPLES = [
    ("\\frac{1}{2}", "<think>halve it</think><answer>1/2</answer>"),
    ("\\frac{1}{2}", "<answer>0.5</answer>"),
    ("\\frac{1}{2}", "<think>hmm</think><answer>2</answer>"),
    ("x^2 + 2x + 1", "<think>expand</think><answer>(x+1)^2</answer>"),
    ("12", "The answer is 12."),
    ("[1, 3)", "<think>interval</think><answer>[1,3)</answer>"),
    ("42", "<think>a</think> and <think>b</think><answer>41</answer>"),
    ("7", ""),
]


def test_rewards_equal_the_verify_worker_and_the_reward_functions(math_env):
    ground_truths = [truth for truth, _ in MATH_SAMPLES]
    responses = [response for _, response in MATH_SAMPLES]
    metadata = [{"ground_truth": truth} for truth in ground_truths]

    result = math_env.step([conversation(r) for r in responses], metadata)

    combined = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
    direct = [combined(truth, response) for truth, response in MATH_SAMPLES]
    verified = VLMVerifyWorker(FORMAT_AND_MATH).verify(responses, ground_truths)
    assert verified == [reward for reward, _ in direct]
    assert result.rewards.dtype == torch.float32
    assert result.rewards.tolist() == torch.tensor(verified, dtype=torch.float32).tolist()
    assert result.rewards.tolist()[:4] == pytest.approx([1.0, 0.95, 0.2, 1.0])
    verdicts = ["correct" if correct else "incorrect" for _, correct in direct]
    assert [o["content"] for o in result.observations] == [f"Environment: {v}" for v in verdicts]
    assert all(o["role"] == "environment" for o in result.observations)


def test_step_returns_nemo_rl_shaped_fields(math_env):
    metadata = [{"ground_truth": "2"}, {"ground_truth": "3"}]
    result = math_env.step([conversation("<answer>2</answer>")] * 2, metadata)

    assert isinstance(result, EnvironmentReturn)
    assert EnvironmentReturn._fields == (
        "observations",
        "metadata",
        "next_stop_strings",
        "rewards",
        "terminateds",
        "answers",
    )
    assert result.metadata is metadata
    assert result.next_stop_strings == [None, None]
    assert result.terminateds.tolist() == [1.0, 1.0]
    assert result.rewards.shape == result.terminateds.shape == (2,)
    assert result.answers is None


def test_extracted_answers_on_request(math_env):
    responses = ["<answer>1/2</answer>", "no tags at all", "<think>t</think><answer> 7 </answer>"]
    metadata = [{"ground_truth": "0.5"}, {"ground_truth": "1"}, {"ground_truth": "7"}]

    result = math_env.step([conversation(r) for r in responses], metadata, True)

    assert result.answers == ["1/2", None, " 7 "]


def test_observation_comes_from_correctness_not_from_a_nonzero_reward(math_env, client):
    metadata = [{"ground_truth": "8"}, {"ground_truth": "8"}]
    responses = ["<think>close</think><answer>7</answer>", "<answer>8</answer>"]
    math_result = math_env.step([conversation(r) for r in responses], metadata)

    assert math_result.rewards.tolist() == pytest.approx([0.2, 0.95])
    assert [o["content"] for o in math_result.observations] == [
        "Environment: incorrect",
        "Environment: correct",
    ]

    boxes = {"reward_functions": [{"name": "bbox_giou", "weight": 1.0}]}
    truth = "[0.1, 0.1, 0.3, 0.3]"
    far, near = "<answer>[0.6, 0.6, 0.9, 0.9]</answer>", "<answer>[0.1, 0.1, 0.3, 0.31]</answer>"
    with VLMEnvironment(boxes, client) as box_env:
        box_result = box_env.step(
            [conversation(far), conversation(near)], [{"ground_truth": truth}] * 2
        )

    far_giou, near_giou = bbox_giou_reward(truth, far)[0], bbox_giou_reward(truth, near)[0]
    assert far_giou < 0 < 0.5 < near_giou
    assert box_result.rewards.tolist() == torch.tensor([far_giou, near_giou]).tolist()
    assert [o["content"] for o in box_result.observations] == [
        "Environment: incorrect",
        "Environment: correct",
    ]


def test_order_is_kept_when_partitions_are_uneven_and_finish_out_of_order(client, helpers):
    config = {
        "num_workers": 3,
        "reward_functions": [
            {"name": f"{HELPERS}:slow_format_reward", "weight": 1.0},
            {"name": "exact_alnum", "weight": 1.0},
        ],
    }
    # 7 samples in 3 partitions of 3, 3 and 1; the first partition is by far the slowest.
    sleeps = [0.6, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0]
    answers = [f"answer {index}" for index in range(7)]
    truths = ["answer 0", "nope", "answer 2", "answer 3", "nope", "answer 5", "answer 6"]
    responses = [
        f"<sleep>{sleep}</sleep><think>t</think><answer>{answer}</answer>"
        if index % 2
        else f"<sleep>{sleep}</sleep><answer>{answer}</answer>"
        for index, (sleep, answer) in enumerate(zip(sleeps, answers))
    ]
    with VLMEnvironment(config, client) as environment:
        result = environment.step(
            [conversation(r) for r in responses],
            [{"ground_truth": truth} for truth in truths],
            return_extracted_answer=True,
        )

    combined = combine_reward_functions(
        [(helpers.slow_format_reward, 1.0), (exact_answer_alphanumeric_reward, 1.0)]
    )
    expected = [combined(truth, response) for truth, response in zip(truths, responses)]
    assert result.answers == answers
    assert result.rewards.tolist() == torch.tensor([r for r, _ in expected]).tolist()
    assert result.rewards.tolist() == pytest.approx([0.875, 0.5, 0.875, 1.0, 0.375, 1.0, 0.875])


def test_bad_samples_score_zero_and_the_rest_are_scored_normally(client, helpers):
    config = {
        "reward_functions": [
            {"name": f"{HELPERS}:fragile_reward", "weight": 0.5},
            {"name": "format", "weight": 0.5},
        ]
    }
    good = "<think>t</think><answer>Paris</answer>"
    batch = [
        (conversation(good), {"ground_truth": "paris"}),
        ([{"role": "user", "content": "no reply"}], {"ground_truth": "paris"}),
        (conversation(good), {"ground_truth": "paris"}),
        (conversation(["not", "a", "string"]), {"ground_truth": "paris"}),
        (conversation("<answer>Rome</answer>"), {"ground_truth": "paris"}),
        (conversation(good), {"data_source": "no ground truth here"}),
        (conversation("<answer>explode</answer>"), {"ground_truth": "explode"}),
        (conversation(good), {"ground_truth": None}),
        (conversation("<think>t</think><answer>rome</answer>"), {"ground_truth": "Rome"}),
    ]
    with VLMEnvironment(config, client) as environment:
        result = environment.step([log for log, _ in batch], [meta for _, meta in batch])

    combined = combine_reward_functions([(helpers.fragile_reward, 0.5), (format_reward, 0.5)])
    expected = {
        0: combined("paris", good),
        2: combined("paris", good),
        4: combined("paris", "<answer>Rome</answer>"),
        8: combined("Rome", "<think>t</think><answer>rome</answer>"),
    }
    rewards = result.rewards.tolist()
    verdicts = [o["content"] for o in result.observations]
    for index in range(len(batch)):
        if index in expected:
            reward, correct = expected[index]
            assert rewards[index] == pytest.approx(reward)
            assert verdicts[index] == f"Environment: {'correct' if correct else 'incorrect'}"
        else:
            assert rewards[index] == 0.0
            assert verdicts[index] == "Environment: incorrect"
    assert rewards[0] == rewards[8] == 1.0
    assert rewards[4] == pytest.approx(0.375)


def test_data_source_selects_its_rewards(client):
    config = {
        "reward_functions": [{"name": "exact_alnum", "weight": 1.0}],
        "by_data_source": {"boxes": {"reward_functions": [{"name": "bbox_giou", "weight": 1.0}]}},
    }
    box, near = "[0.1, 0.1, 0.3, 0.3]", "<answer>[0.1, 0.1, 0.3, 0.31]</answer>"
    spaced, commas = "0.1 0.1 0.3 0.3", "<answer>0.1, 0.1, 0.3, 0.3</answer>"
    metadata = [{"ground_truth": box, "data_source": "boxes"}, {"ground_truth": spaced}]
    with VLMEnvironment(config, client) as environment:
        result = environment.step([conversation(near), conversation(commas)], metadata)

    assert exact_answer_alphanumeric_reward(box, near) == (0.0, False)
    assert bbox_giou_reward(spaced, commas) == (0.0, False)
    expected = [bbox_giou_reward(box, near)[0], exact_answer_alphanumeric_reward(spaced, commas)[0]]
    assert result.rewards.tolist() == torch.tensor(expected).tolist()
    assert 0.9 < expected[0] < 1.0 and expected[1] == 1.0


def test_stop_strings_come_from_the_config(client):
    config = {**FORMAT_AND_MATH, "stop_strings": ["</answer>"]}
    with VLMEnvironment(config, client) as environment:
        result = environment.step(
            [conversation("<answer>1</answer>")] * 2, [{"ground_truth": "1"}] * 2
        )

    assert result.next_stop_strings == [["</answer>"], ["</answer>"]]


def test_empty_batch_gives_empty_tensors_without_a_cluster_call(math_env, monkeypatch):
    def no_cluster(*args, **kwargs):
        raise AssertionError("an empty batch must not reach the cluster")

    monkeypatch.setattr(math_env.client, "compute", no_cluster)

    result = math_env.step([], [], return_extracted_answer=True)

    assert result.observations == [] and result.next_stop_strings == []
    assert result.rewards.shape == result.terminateds.shape == (0,)
    assert result.rewards.dtype == torch.float32
    assert result.answers == []


def test_partitions_default_to_the_cluster_threads_and_a_given_client_survives(client):
    environment = VLMEnvironment(FORMAT_AND_MATH, client)
    assert environment.num_workers == 2

    environment.shutdown()
    environment.shutdown()

    assert client.submit(sum, [1, 2, 3]).result() == 6
    with pytest.raises(RuntimeError, match="shut down"):
        environment.step([conversation("<answer>1</answer>")], [{"ground_truth": "1"}])
    with VLMEnvironment(FORMAT_AND_MATH, client) as again:
        result = again.step([conversation("<answer>1</answer>")], [{"ground_truth": "1"}])
    assert result.rewards.tolist() == pytest.approx([0.95])


def test_a_worker_killed_during_a_step_is_retried_and_every_reward_returned(
    client, helpers, tmp_path
):
    config = {"reward_functions": [{"name": f"{HELPERS}:slow_format_reward", "weight": 1.0}]}
    shapes = ["<think>t</think><answer>a</answer>", "<answer>a</answer>", "<think>t</think>", "x"]
    responses = [
        f"<mark>{tmp_path}</mark><sleep>0.03</sleep>{shapes[index % 4]}" for index in range(120)
    ]
    metadata = [{"ground_truth": "a"}] * len(responses)
    outcome: dict[str, EnvironmentReturn | BaseException] = {}

    with VLMEnvironment(config, client) as environment:

        def run_step() -> None:
            try:
                outcome["result"] = environment.step([conversation(r) for r in responses], metadata)
            except BaseException as error:
                outcome["result"] = error

        stepping = threading.Thread(target=run_step)
        stepping.start()
        busy = _wait_for_busy_worker(client, tmp_path)
        time.sleep(0.5)
        assert stepping.is_alive()
        os.kill(client.run(os.getpid, workers=[busy])[busy], signal.SIGKILL)
        stepping.join(timeout=120)

        assert not stepping.is_alive()
        result = outcome["result"]
        assert isinstance(result, EnvironmentReturn), result
        expected = [format_reward("a", response)[0] for response in responses]
        assert result.rewards.tolist() == expected
        assert len(result.observations) == len(responses)
        client.wait_for_workers(2, timeout=120)
        assert busy not in client.scheduler_info()["workers"]  # the nanny started a new worker

        # the next step is scored on the new worker too
        batch = [conversation(r) for r in shapes], [{"ground_truth": "a"}] * len(shapes)
        formats = [format_reward("a", shape)[0] for shape in shapes]
        assert environment.step(*batch).rewards.tolist() == formats


def _wait_for_busy_worker(client: Client, marks: pathlib.Path, timeout: float = 30.0) -> str:
    """The address of a worker scoring a response marked with the folder ``marks``, once one
    is (its scoring process leaves a file named by the worker's process id there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = {int(path.name) for path in marks.iterdir()}
        busy = [address for address, pid in client.run(os.getpid).items() if pid in pids]
        if busy:
            return busy[0]
        time.sleep(0.02)
    raise AssertionError("no worker started scoring the step")


def test_several_steps_in_flight_each_return_in_their_own_order(client, helpers):
    config = {
        "num_workers": 2,
        "reward_functions": [
            {"name": f"{HELPERS}:slow_format_reward", "weight": 1.0},
            {"name": "exact_alnum", "weight": 1.0},
        ],
    }
    batches = []
    for step in range(3):
        answers = [f"step {step} answer {index}" for index in range(5)]
        sleeps = [0.2 * ((index + step) % 3) for index in range(5)]  # each finishes unevenly
        responses = [
            f"<sleep>{sleep}</sleep><think>t</think><answer>{answer}</answer>"
            for sleep, answer in zip(sleeps, answers)
        ]
        truths = [answer if index % 2 == 0 else "other" for index, answer in enumerate(answers)]
        batches.append((responses, truths, answers))
    combined = combine_reward_functions(
        [(helpers.slow_format_reward, 1.0), (exact_answer_alphanumeric_reward, 1.0)]
    )

    with VLMEnvironment(config, client) as environment:
        futures = [
            environment.step_async(
                [conversation(r) for r in responses], [{"ground_truth": t} for t in truths], True
            )
            for responses, truths, _ in batches
        ]  # all three in flight before any is read
        results = [future.result(timeout=120) for future in reversed(futures)][::-1]

    for result, (responses, truths, answers) in zip(results, batches):
        assert result.answers == answers
        expected = [combined(truth, response)[0] for truth, response in zip(truths, responses)]
        assert result.rewards.tolist() == torch.tensor(expected).tolist()
        assert [o["content"] for o in result.observations] == [
            "Environment: correct" if index % 2 == 0 else "Environment: incorrect"
            for index in range(5)
        ]


def test_astep_is_awaited_by_asyncio_trainers(math_env):
    async def two_steps() -> list[EnvironmentReturn]:
        first = math_env.astep([conversation("<answer>2</answer>")], [{"ground_truth": "2"}])
        second = math_env.astep([conversation("<answer>5</answer>")], [{"ground_truth": "4"}])
        return await asyncio.gather(first, second)

    first, second = asyncio.run(two_steps())

    assert first.rewards.tolist() == pytest.approx([0.95])
    assert second.rewards.tolist() == pytest.approx([0.15])


def test_a_shut_down_environment_refuses_steps_in_the_background_too(client):
    environment = VLMEnvironment(FORMAT_AND_MATH, client)
    sample = [conversation("<answer>1</answer>")], [{"ground_truth": "1"}]
    in_flight = environment.step_async(*sample)
    environment.shutdown()  # waits for the step in flight

    assert in_flight.result().rewards.tolist() == pytest.approx([0.95])
    with pytest.raises(EnvironmentClosed, match="shut down"):
        environment.step_async(*sample)


def test_content_parts_are_scored_on_their_text_parts_joined(math_env):
    parts = [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "<think>the picture shows 3</think>"},
        {"type": "image", "image": "pixels"},
        {"type": "text", "text": "<answer>3</answer>"},
    ]
    conversations = [
        [{"role": "user", "content": parts[:1]}, {"role": "assistant", "content": parts}],
        [{"role": "assistant", "content": [{"type": "text", "text": 3}]}],
        [{"role": "assistant", "content": [{"type": "image", "image": "only pixels"}]}],
    ]
    metadata = [{"ground_truth": "3"}] * 3

    result = math_env.step(conversations, metadata, return_extracted_answer=True)

    text = "<think>the picture shows 3</think><answer>3</answer>"
    combined = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
    assert result.rewards.tolist()[0] == pytest.approx(combined("3", text)[0])
    assert result.rewards.tolist()[1:] == [0.0, 0.0]
    assert result.answers == ["3", None, None]


@pytest.mark.parametrize("partitions", [2, 3], ids=["one per worker", "more than workers"])
def test_a_batch_of_long_responses_is_scored_without_dask_warning_of_a_large_graph(
    client, partitions
):
    """A step's graph carries its batch on purpose (so a partition whose worker dies is scored
    again); a trainer's log gets no warning each step."""
    long_reasoning = "Let us reason step by step. " * 500  # 14 kB a response: 14 MB a batch
    conversations = [
        conversation(f"<think>{long_reasoning}</think><answer>{index % 7}</answer>")
        for index in range(1024)
    ]
    metadata = [{"ground_truth": "3"} for _ in conversations]

    with (
        VLMEnvironment({**FORMAT_AND_MATH, "num_workers": partitions}, client) as environment,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error")
        result = environment.step(conversations, metadata)

    expected = [1.0 if index % 7 == 3 else 0.2 for index in range(1024)]
    assert torch.equal(result.rewards, torch.tensor(expected))


def test_a_steps_partitions_are_dask_tasks_on_the_dashboards_task_stream(client):
    truths = [str(number) for number in range(16)]  # ground truths of both partitions
    batch = (
        [conversation(f"<think>t</think><answer>{truth}</answer>") for truth in truths],
        [{"ground_truth": truth} for truth in truths],
    )
    with (
        VLMEnvironment(FORMAT_AND_MATH, client) as environment,
        get_task_stream(client) as tasks,
    ):
        assert environment.step(*batch).rewards.tolist() == [1.0] * 16

    scoring = [task for task in tasks.data if "rollscore-step" in str(task["key"])]
    assert len(scoring) == 2  # one task per partition, under the step's name


def test_the_samples_of_one_ground_truth_are_scored_in_one_partition():
    frame = pd.DataFrame(
        {"ground_truth": ["a", "b", "a", 7, None, "b", "7"] * 3, "response": ["r"] * 21}
    )

    parts = partitions_by_ground_truth(frame, 3)

    assert sorted(index for part in parts.values() for index in part.index) == list(range(21))
    owner = {truth: index for index, part in parts.items() for truth in part["ground_truth"]}
    for index, part in parts.items():
        assert all(owner[truth] == index for truth in part["ground_truth"])


def test_steps_after_the_cluster_restarts_are_scored(client):
    batch = [conversation("<think>t</think><answer>1</answer>")] * 4, [{"ground_truth": "1"}] * 4
    with VLMEnvironment(FORMAT_AND_MATH, client) as environment:
        assert environment.step(*batch).rewards.tolist() == [1.0] * 4
        client.restart()
        client.wait_for_workers(2, timeout=120)
        assert environment.step(*batch).rewards.tolist() == [1.0] * 4


def test_steps_in_flight_when_a_worker_is_killed_each_return_every_reward(
    client, helpers, tmp_path
):
    config = {"reward_functions": [{"name": f"{HELPERS}:slow_format_reward", "weight": 1.0}]}
    shapes = ["<think>t</think><answer>a</answer>", "<answer>a</answer>", "<think>t</think>", "x"]
    batches = [
        [f"<mark>{tmp_path}</mark><sleep>0.02</sleep>{shapes[(i + step) % 4]}" for i in range(40)]
        for step in range(3)
    ]
    with VLMEnvironment(config, client) as environment:
        futures = [
            environment.step_async(
                [conversation(r) for r in responses], [{"ground_truth": "a"}] * len(responses)
            )
            for responses in batches
        ]
        busy = _wait_for_busy_worker(client, tmp_path)
        os.kill(client.run(os.getpid, workers=[busy])[busy], signal.SIGKILL)
        results = [future.result(timeout=120) for future in futures]

    for result, responses in zip(results, batches):
        assert result.rewards.tolist() == [format_reward("a", r)[0] for r in responses]
    client.wait_for_workers(2, timeout=120)


def test_a_step_while_the_only_worker_restarts_waits_for_it_and_none_raises_no_workers():
    batch = [conversation("<answer>1</answer>")], [{"ground_truth": "1"}]
    with local_cluster(1, "127.0.0.1:0") as cluster, Client(cluster) as own:
        with VLMEnvironment(FORMAT_AND_MATH, own) as environment:
            [pid] = own.run(os.getpid).values()
            os.kill(pid, signal.SIGKILL)  # its nanny starts it again
            while own.nthreads():
                time.sleep(0.01)
            assert environment.step(*batch).rewards.tolist() == pytest.approx([0.95])

        cluster.scale(0)  # no nanny left to start one
        while own.nthreads():
            time.sleep(0.01)
        session = ScoringSession(FORMAT_AND_MATH, own, worker_wait=1.0)
        frame = pd.DataFrame({"ground_truth": ["1"], "response": ["<answer>1</answer>"]})
        with pytest.raises(NoWorkers, match=r"^the Dask cluster has had no workers for 1 s$"):
            session.score(frame)
