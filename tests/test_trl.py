"""``TRLReward``: TRL's calling convention, and a real ``GRPOTrainer`` training a tiny local model
with it, logging the same rewards as the reward functions called directly on its completions.

TRL, transformers, tokenizers and datasets are imported by the helpers that use them: importing
them at collection would cost the quick loop seconds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import torch
from distributed import Client
from rollscore.env import TRLReward
from rollscore.rewards import (
    combine_reward_functions,
    exact_answer_alphanumeric_reward,
    format_reward,
    math_expression_reward,
)

pytestmark = pytest.mark.slow  # every test here scores on a real Dask cluster

FORMAT_AND_MATH = {
    "reward_functions": [
        {"name": "format", "weight": 0.2},
        {"name": "math_expr", "weight": 0.8},
    ],
    "by_data_source": {"choice": {"reward_functions": [{"name": "exact_alnum", "weight": 1.0}]}},
}
format_and_math = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
QUESTIONS = {
    "what is one plus two ?": "3",
    "what is two plus two ?": "4",
    "what is three plus four ?": "7",
    "what is one plus one ?": "2",
}
WORDS = "<think> ok </think> " + " ".join(f"<answer>{answer}</answer>" for answer in "2347")


def test_scores_strings_conversations_with_parts_and_bad_completions(client):
    completions = [
        "<think>sum</think><answer>3</answer>",
        [{"role": "assistant", "content": "<answer>5</answer>"}],
        [
            {
                "role": "assistant",
                "content": [
                    {"type": "image", "image": "(pixels)"},
                    {"type": "text", "text": "<think>2 + 2</think>"},
                    {"type": "text", "text": "<answer>4</answer>"},
                ],
            }
        ],
        "<think>7</think><answer>7</answer>",  # against a numeric ground truth
        "<answer>3</answer>",  # no ground truth for it
        None,
        [{"role": "user", "content": "<answer>3</answer>"}],  # no assistant message
        "<answer>B</answer>",  # a multiple-choice row: exact_alnum only
    ]
    logged: list[tuple[str, object]] = []

    with TRLReward(FORMAT_AND_MATH, client) as reward:
        rewards = reward(
            prompts=["1 + 2?", "2 + 3?", "2 + 2?", "3 + 4?", "1 + 2?", "1 + 2?", "1 + 2?", "A/B?"],
            completions=completions,
            completion_ids=[[5, 6, 3]] * 8,
            ground_truth=["3", "4", "4", 7, None, "3", "3", "b"],
            data_source=["math"] * 7 + ["choice"],
            trainer_state=None,
            log_extra=lambda column, values: logged.append((column, values)),
            log_metric=lambda name, value: logged.append((name, value)),
        )

    assert rewards == [
        format_and_math("3", "<think>sum</think><answer>3</answer>")[0],
        format_and_math("4", "<answer>5</answer>")[0],
        format_and_math("4", "<think>2 + 2</think><answer>4</answer>")[0],
        format_and_math("7", "<think>7</think><answer>7</answer>")[0],
        0.0,
        0.0,
        0.0,
        exact_answer_alphanumeric_reward("b", "<answer>B</answer>")[0],
    ]
    assert rewards[0] == rewards[3] == rewards[7] == 1.0 and 0.0 < rewards[1] < 1.0
    assert reward.__name__ == "rollscore"
    assert logged == []


def test_without_a_ground_truth_column_every_completion_scores_zero(client):
    with TRLReward(FORMAT_AND_MATH, client, name="math") as reward:
        rewards = reward(["1 + 2?", "1 + 2?"], ["<answer>3</answer>", "3"], [[1], [2]])
    with TRLReward(FORMAT_AND_MATH, client, ground_truth_key="solution") as solution_reward:
        solution_rewards = solution_reward(["1 + 2?"], ["<answer>3</answer>"], solution=["3"])

    assert rewards == [0.0, 0.0]
    assert reward.__name__ == "math"
    assert solution_rewards == [format_and_math("3", "<answer>3</answer>")[0]]


@pytest.mark.parametrize("sources", [["math"] * 4, ["math"] * 2], ids=["4 for 3", "2 for 3"])
def test_a_batch_whose_columns_disagree_in_length_is_refused(client, sources):
    completions = ["<answer>3</answer>", "<answer>4</answer>", "<answer>5</answer>"]
    with (
        TRLReward(FORMAT_AND_MATH, client) as reward,
        pytest.raises(ValueError, match=f"3 responses but {len(sources)} data sources"),
    ):
        reward(["q"] * 3, completions, ground_truth=["3", "4", "5"], data_source=sources)


def test_an_owned_cluster_closes_even_from_another_thread_and_a_given_client_stays(client):
    with ThreadPoolExecutor(1) as setup:  # started in a thread, closed in this one
        reward = setup.submit(TRLReward, {**FORMAT_AND_MATH, "num_workers": 1}).result()
    with reward:
        address, security = reward.client.scheduler.address, reward.client.security
        rewards = reward(["1 + 2?"], ["<answer>3</answer>"], ground_truth=["3"])
    with TRLReward(FORMAT_AND_MATH, client) as given:
        assert given.client is client

    assert rewards == [format_and_math("3", "<answer>3</answer>")[0]]
    with pytest.raises(OSError):  # with the cluster's own credentials: it is gone
        Client(address, security=security, timeout="2s")
    assert client.submit(sum, [1, 2]).result() == 3


@pytest.fixture
def one_torch_thread():
    """One intra-op thread for the tiny model: on two cores, more threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(tokenizer):
    """A two-layer Llama of hidden size 32, built from a config with random weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    special_ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        **special_ids,
    )
    model = LlamaForCausalLM(config)
    for name, value in special_ids.items():
        setattr(model.generation_config, name, value)
    return model


def question_of(prompt: object) -> str:
    """The question of a logged prompt: the string, or the user message's content."""
    return prompt if isinstance(prompt, str) else prompt[0]["content"]


def completion_text(completion: object) -> str:
    """A logged completion's text: the string, or the assistant message's content."""
    return completion if isinstance(completion, str) else completion[0]["content"]


@pytest.mark.parametrize("conversational", [False, True], ids=["standard", "conversational"])
def test_grpo_trainer_logs_the_rewards_of_its_completions(
    client, tmp_path, one_torch_thread, word_tokenizer, conversational
):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = word_tokenizer([*QUESTIONS, WORDS])
    prompts = [[{"role": "user", "content": q}] if conversational else q for q in QUESTIONS]
    dataset = Dataset.from_dict({"prompt": prompts, "ground_truth": list(QUESTIONS.values())})
    settings = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,  # a generation batch: 2 prompts x 2 generations
        num_generations=2,
        max_completion_length=8,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        log_completions=True,  # each step's completions and rewards: tmp_path/completions
        num_completions_to_print=0,
        seed=0,
    )

    with TRLReward(FORMAT_AND_MATH, client) as reward:
        trainer = GRPOTrainer(
            model=tiny_model(tokenizer),
            reward_funcs=[reward],
            args=settings,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        trainer.train()

    assert trainer.state.global_step == 2
    step_means = [log["rewards/rollscore/mean"] for log in trainer.state.log_history[:-1]]
    tables = sorted((tmp_path / "completions").glob("completions_*.parquet"))
    assert len(step_means) == len(tables) == 2
    logged_rewards = []
    for table, step_mean in zip(tables, step_means):
        steps = pd.read_parquet(table)
        direct = [
            format_and_math(QUESTIONS[question_of(prompt)], completion_text(completion))[0]
            for prompt, completion in zip(steps["prompt"], steps["completion"])
        ]
        as_trl_keeps_them = torch.tensor(direct, dtype=torch.float32)  # TRL's tensors
        assert steps["rollscore"].tolist() == as_trl_keeps_them.tolist()
        assert step_mean == torch.nanmean(as_trl_keeps_them).item()
        logged_rewards += direct
    assert len(logged_rewards) == 8 and any(value > 0 for value in logged_rewards)
