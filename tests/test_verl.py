"""``VerlReward`` under verl's own reward managers, on a hand-built ``DataProto`` of a tiny local
tokenizer: the legacy per-sample and batch managers, and the reward loop's workers that verl
0.9's trainer runs, loading the file a user writes. Each gives the rewards of the reward
functions called directly.

verl and its dependencies are imported by the tests that use them: importing them at
collection would cost the quick loop seconds.
"""

from __future__ import annotations

import asyncio

import dask
import psutil
import pytest
import yaml
from distributed import Client
from rollscore.env import VerlReward
from rollscore.rewards import (
    combine_reward_functions,
    exact_answer_alphanumeric_reward,
    format_reward,
    math_expression_reward,
)
from rollscore.rewards.exact import exact_answer_alphanumeric_result
from rollscore.rewards.math_answers import math_expression_result

pytestmark = pytest.mark.slow  # every test here scores on a real Dask cluster

CONFIG = {
    "reward_functions": [
        {"name": "format", "weight": 0.2},
        {"name": "math_expr", "weight": 0.8},
    ],
    "by_data_source": {"choice": {"reward_functions": [{"name": "exact_alnum", "weight": 1.0}]}},
}
format_and_math = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
SAMPLES = [  # (prompt, data source, response, ground truth): two responses per prompt
    ("one plus two ?", "math", "<think> one plus two </think> <answer>3</answer>", "3"),
    ("one plus two ?", "math", "<answer>4</answer>", "3"),
    ("two plus two ?", "math", "<think> two plus two </think> <answer>4</answer>", 4),
    ("two plus two ?", "math", "<answer>4</answer>", None),  # no ground truth
    ("a or b ?", "choice", "<answer>B</answer>", "b"),
    ("a or b ?", "choice", "<answer>C</answer>", "b"),
]
USER_FILE = """\
from pathlib import Path

from rollscore.env.verl import VerlReward

compute_score = VerlReward(Path(__file__).with_name("rollscore.yaml"), return_dict=True)
"""


def direct(data_source: str, response: str, ground_truth: object) -> dict[str, object]:
    """What the reward functions called directly say of a sample, in ``VerlReward``'s keys."""
    if ground_truth is None:
        nothing = dict.fromkeys(["reward_format", "reward_math_expr", "reward_exact_alnum"])
        return {"score": 0.0, **nothing, "acc": 0.0, "pred": ""}
    truth = str(ground_truth)
    if data_source == "choice":
        score, correct = exact_answer_alphanumeric_reward(truth, response)
        components = {"reward_format": None, "reward_math_expr": None, "reward_exact_alnum": score}
        answer = exact_answer_alphanumeric_result(truth, response).answer
    else:
        score, correct = format_and_math(truth, response)
        components = {
            "reward_format": format_reward(truth, response)[0],
            "reward_math_expr": math_expression_reward(truth, response)[0],
            "reward_exact_alnum": None,
        }
        answer = math_expression_result(truth, response).answer
    return {"score": score, **components, "acc": 1.0 if correct else 0.0, "pred": answer}


EXPECTED = [direct(source, response, truth) for _, source, response, truth in SAMPLES]


def as_columns(rows: list[dict[str, object]]) -> dict[str, list[object]]:
    """Per-sample dicts as verl's ``reward_extra_info``: one list per key."""
    return {key: [row[key] for row in rows] for key in rows[0]}


@pytest.fixture
def tokenizer(word_tokenizer):
    """A word tokenizer of the samples' prompts and responses."""
    return word_tokenizer(
        [text for prompt, _, response, _ in SAMPLES for text in (prompt, response)]
    )


def rollouts(tokenizer, prompt_length: int = 6, response_length: int = 8):
    """The samples as verl's trainer hands them to its reward managers: prompts padded on the
    left and responses (ended by EOS) on the right, an attention mask over both, and the
    ground truth, data source and prompt id of each row."""
    import torch
    from verl import DataProto

    pad = tokenizer.pad_token_id
    prompts, responses, masks = [], [], []
    for prompt, _, response, _ in SAMPLES:
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(response_ids) == response  # verl decodes the very response
        response_ids.append(tokenizer.eos_token_id)
        prompt_padding = prompt_length - len(prompt_ids)
        response_padding = response_length - len(response_ids)
        prompts.append([pad] * prompt_padding + prompt_ids)
        responses.append(response_ids + [pad] * response_padding)
        masks.append(
            [0] * prompt_padding
            + [1] * (len(prompt_ids) + len(response_ids))
            + [0] * response_padding
        )
    prompts_tensor, responses_tensor = torch.tensor(prompts), torch.tensor(responses)
    return DataProto.from_dict(
        tensors={
            "prompts": prompts_tensor,
            "responses": responses_tensor,
            "input_ids": torch.cat([prompts_tensor, responses_tensor], dim=1),
            "attention_mask": torch.tensor(masks),
        },
        non_tensors={
            "data_source": [source for _, source, _, _ in SAMPLES],
            "reward_model": [{"style": "rule", "ground_truth": truth} for *_, truth in SAMPLES],
            "extra_info": [{"index": index} for index in range(len(SAMPLES))],
            "uid": [prompt for prompt, *_ in SAMPLES],
        },
    )


def assert_placed_at_the_last_response_token(reward_tensor, data, scores: list[float]) -> None:
    """Each row's reward on its last response token (its EOS), zeros elsewhere."""
    prompt_length = data.batch["prompts"].shape[1]
    last = data.batch["attention_mask"][:, prompt_length:].sum(dim=1) - 1
    assert reward_tensor.sum(dim=1).tolist() == pytest.approx(scores, abs=1e-6)
    for row, column in enumerate(last.tolist()):
        assert reward_tensor[row, column].item() == pytest.approx(scores[row], abs=1e-6)
        assert (reward_tensor[row] != 0).sum() <= 1


@pytest.mark.parametrize("return_dict", [True, False], ids=["dicts", "floats"])
@pytest.mark.parametrize("manager", ["NaiveRewardManager", "DAPORewardManager"])
def test_legacy_per_sample_managers(users_cluster, tokenizer, manager, return_dict):
    from verl.workers import reward_manager

    data = rollouts(tokenizer)
    with VerlReward(CONFIG, return_dict, scheduler=users_cluster) as reward:
        managing = getattr(reward_manager, manager)(tokenizer, 0, reward)
        result = managing(data, return_dict=True)

    scores = [row["score"] for row in EXPECTED]
    assert_placed_at_the_last_response_token(result["reward_tensor"], data, scores)
    extra = dict(result["reward_extra_info"])
    if return_dict:
        assert extra == as_columns(EXPECTED)
    elif manager == "DAPORewardManager":  # DAPO reports a float reward as "acc"
        assert extra == {"acc": scores}
    else:
        assert extra == {}


def test_legacy_batch_manager_with_the_batch_form(users_cluster, tokenizer):
    from verl.workers.reward_manager import BatchRewardManager

    data = rollouts(tokenizer)
    with VerlReward(CONFIG, return_dict=True, scheduler=users_cluster) as reward:
        # reward_weight: one of verl's reward_kwargs, which reach the function unused
        managing = BatchRewardManager(tokenizer, 0, reward.batch, reward_weight=1.0)
        result = managing(data, return_dict=True)

    scores = [row["score"] for row in EXPECTED]
    assert_placed_at_the_last_response_token(result["reward_tensor"], data, scores)
    assert dict(result["reward_extra_info"]) == as_columns(EXPECTED)


@pytest.fixture
def event_loop_for_verl():
    """A fresh current event loop: verl's reward-loop managers take the current one when they
    are made and schedule on it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.mark.parametrize("manager", ["naive", "dapo"])
def test_reward_loop_workers_load_the_users_file(
    users_cluster, tokenizer, tmp_path, event_loop_for_verl, manager
):
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.trainer.ppo.metric_utils import process_validation_metrics

    (tmp_path / "rollscore.yaml").write_text(yaml.safe_dump(CONFIG))
    (tmp_path / "rollscore_reward.py").write_text(USER_FILE)
    tokenizer.save_pretrained(tmp_path / "model")
    settings = OmegaConf.create(
        {
            "actor_rollout_ref": {
                "model": {"path": str(tmp_path / "model"), "tokenizer_path": None}
            },
            "reward": {
                "custom_reward_function": {
                    "path": str(tmp_path / "rollscore_reward.py"),
                    "name": "compute_score",
                },
                "reward_manager": {"source": "register", "name": manager},
                "reward_model": {"enable": False},
            },
        }
    )
    data = rollouts(tokenizer)

    # DASK_SCHEDULER_ADDRESS, as every reward process of a training run would have it
    with dask.config.set({"scheduler-address": users_cluster}):
        worker = RewardLoopWorker(settings)  # each row in a thread of its own, all at once
        reward = worker.reward_manager.compute_score.args[0]  # the file's compute_score
        try:
            outputs = event_loop_for_verl.run_until_complete(worker.compute_score_batch(data))
        finally:
            reward.close()

    assert isinstance(reward, VerlReward)
    scores = [output["reward_score"] for output in outputs]
    rm_scores = type(worker.reward_manager).assemble_rm_scores(data, scores)
    assert_placed_at_the_last_response_token(rm_scores, data, [row["score"] for row in EXPECTED])
    assert [output["reward_extra_info"] for output in outputs] == EXPECTED
    extra = as_columns([output["reward_extra_info"] for output in outputs])
    metrics = process_validation_metrics(
        list(data.non_tensor_batch["data_source"]), list(data.non_tensor_batch["uid"]), extra
    )
    assert set(metrics) == {"math", "choice"}
    assert "maj@2/mean" in metrics["math"]["acc"]  # verl voted on "pred"


def spawned_children() -> set[psutil.Process]:
    """This process's live children started by ``multiprocessing``'s spawn: Dask's worker
    processes."""
    spawned = set()
    for child in psutil.Process().children():
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                spawned.add(child)
        except psutil.Error:  # ended since (a zombie until reaped): no worker
            continue
    return spawned


@pytest.mark.parametrize("sources", [["math"] * 4, ["math"] * 2], ids=["4 for 3", "2 for 3"])
def test_a_batch_whose_lists_disagree_in_length_is_refused(sources):
    reward = VerlReward(CONFIG)  # nothing reaches a cluster: the batch is refused first
    with pytest.raises(ValueError, match=f"3 responses but {len(sources)} data sources"):
        reward.batch(sources, ["<answer>3</answer>"] * 3, ["3", "4", "5"])
    reward.close()


def test_an_owned_cluster_starts_on_the_first_call_and_closes_and_a_given_one_stays(
    users_cluster,
):
    before = spawned_children()
    reward = VerlReward({**CONFIG, "num_workers": 1})
    assert spawned_children() == before  # loading the file starts nothing

    score = reward("math", "<answer>3</answer>", "3", extra_info={"index": 0}, bonus=1.0)
    started = spawned_children() - before
    reward.close()

    assert score == format_and_math("3", "<answer>3</answer>")[0]
    assert len(started) == 1
    assert not psutil.wait_procs(list(started), timeout=30)[1]

    with VerlReward(CONFIG, scheduler=users_cluster) as given:
        assert given.batch(["choice"], ["<answer>A</answer>"], [None]) == [0.0]
    with Client(users_cluster) as client:
        assert client.submit(sum, [1, 2]).result() == 3
