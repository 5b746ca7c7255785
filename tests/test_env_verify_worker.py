"""``VLMVerifyWorker.verify`` and ``_mute_output``: rewards scored in order, one bad pair never
spoiling the others, reward chatter kept out of the training log."""

from __future__ import annotations

import os
import sys

import pytest
from rollscore.env import VLMVerifyWorker, _mute_output
from rollscore.rewards import (
    ConfigError,
    combine_reward_functions,
    exact_answer_alphanumeric_reward,
    format_reward,
    math_expression_reward,
)

PAIRS = [
    ("<think>t</think><answer>Paris</answer>", "paris"),
    ("<answer>Rome</answer>", "paris"),
    ("<think>only thinking</think>", "paris"),
    ("Paris, without tags", "paris"),
]


def test_verify_equals_the_combined_reward_functions():
    config = {
        "num_workers": 1,
        "stop_strings": None,
        "reward_functions": [
            {"name": "format", "weight": 1.0},
            {"name": "exact_alnum", "weight": 3.0},
        ],
    }
    responses = [response for response, _ in PAIRS]
    truths = [truth for _, truth in PAIRS]

    rewards = VLMVerifyWorker(config).verify(responses, truths)

    combined = combine_reward_functions(
        [(format_reward, 1.0), (exact_answer_alphanumeric_reward, 3.0)]
    )
    assert rewards == [combined(truth, response)[0] for response, truth in PAIRS]
    assert rewards == [1.0, 0.1875, 0.0625, 0.0]


def test_verify_scores_math_answers():
    config = {"reward_functions": [{"name": "math_expr", "weight": 1.0, "kwargs": {"tag": "a"}}]}
    responses = ["<a>1/2</a>", "<a>0.5</a>", "<a>2</a>", "<answer>1/2</answer>"]

    rewards = VLMVerifyWorker(config).verify(responses, ["\\frac{1}{2}"] * 4)

    assert rewards == [math_expression_reward("\\frac{1}{2}", r, tag="a")[0] for r in responses]
    assert rewards == [1.0, 1.0, 0.0, 0.0]


def test_a_pair_that_raises_or_is_not_text_scores_zero_alone(module_dir):
    (module_dir / "picky_rewards.py").write_text(
        "def picky(ground_truth, response):\n"
        "    if response == 'boom':\n"
        "        raise ValueError('boom')\n"
        "    return 1.0, True\n"
    )
    worker = VLMVerifyWorker({"reward_functions": [{"name": "picky_rewards:picky", "weight": 1}]})

    rewards = worker.verify(["fine", "boom", "fine", None, "fine"], ["a", "a", "a", "a", 7])

    assert rewards == [1.0, 0.0, 1.0, 0.0, 0.0]


def test_reward_chatter_never_reaches_the_callers_streams(module_dir, capfd):
    said = module_dir / "pid"
    (module_dir / "chatty_rewards.py").write_text(
        "import os, sys\n"
        "def chatty(ground_truth, response):\n"
        f"    open({str(said)!r}, 'w').write(str(os.getpid()))\n"
        "    print('scoring', response)\n"
        "    print('warning: slow', file=sys.stderr)\n"
        "    os.write(1, b'from C code\\n')\n"
        "    return 0.5, None\n"
    )
    worker = VLMVerifyWorker({"reward_functions": [{"name": "chatty_rewards:chatty", "weight": 1}]})

    assert worker.verify(["a", "b"], ["x", "y"]) == [0.5, 0.5]

    assert capfd.readouterr() == ("", "")
    scoring_process = int(said.read_text())  # where the chatter went: the null device
    assert os.readlink(f"/proc/{scoring_process}/fd/1") == os.devnull
    assert os.readlink(f"/proc/{scoring_process}/fd/2") == os.devnull


def test_mute_output_restores_the_streams(capsys):
    stdout, stderr = sys.stdout, sys.stderr
    with _mute_output():
        print("hidden")
        print("hidden too", file=sys.stderr)
    print("shown")

    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    assert capsys.readouterr() == ("shown\n", "")


def test_a_bad_config_is_rejected_when_the_worker_is_made():
    with pytest.raises(ConfigError, match="weight"):
        VLMVerifyWorker({"reward_functions": [{"name": "format", "weight": float("nan")}]})
