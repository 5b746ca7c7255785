"""``score_batch``: the same rewards as ``combine_reward_functions``, plus per-row components,
answers and errors; a bad row scores 0.0 and never stops the batch."""

from __future__ import annotations

import math
import random

import pytest
from rollscore.rewards import (
    combine_reward_functions,
    exact_answer_alphanumeric_reward,
    format_reward,
    load_config,
    math_expression_reward,
    score_batch,
)

from bench.corpus import read_rows, write_corpus

FORMAT_AND_MATH = {
    "reward_functions": [{"name": "format", "weight": 0.2}, {"name": "math_expr", "weight": 0.8}]
}
MIXED_FUNCTIONS = [
    ("format", format_reward, 0.2),
    ("exact_alnum", exact_answer_alphanumeric_reward, 0.3),
    ("math_expr", math_expression_reward, 0.5),
]
MIXED_CONFIG = load_config(
    {"reward_functions": [{"name": name, "weight": weight} for name, _, weight in MIXED_FUNCTIONS]}
)
MIXED_ROWS = [
    ("5", "<think>easy</think><answer>5</answer>", "5"),
    (r"\frac{3}{4}", "<answer>0.75</answer>", "0.75"),
    ("B", "<think>hmm</think><answer>(b)</answer>", "(b)"),
    ("12", "The answer is 12", None),
    ("x^2+6x+9", "<think>expand</think><answer>(x+3)^2</answer>", "(x+3)^2"),
    ("7", "<think>t</think><answer>8</answer>", "8"),
    ("", "<answer></answer>", ""),
]


def test_score_batch_matches_combine_reward_functions_row_by_row():
    ground_truths = [row[0] for row in MIXED_ROWS]
    responses = [row[1] for row in MIXED_ROWS]
    combined = combine_reward_functions([(fn, weight) for _, fn, weight in MIXED_FUNCTIONS])

    scores = score_batch(MIXED_CONFIG, ground_truths, responses)

    expected = [combined(gt, response) for gt, response in zip(ground_truths, responses)]
    assert list(zip(scores.reward, scores.correct)) == expected
    assert list(scores.components) == ["reward_format", "reward_exact_alnum", "reward_math_expr"]
    for name, fn, _ in MIXED_FUNCTIONS:
        column = [float(fn(gt, response)[0]) for gt, response in zip(ground_truths, responses)]
        assert scores.components[f"reward_{name}"] == column
    assert scores.extracted_answer == [row[2] for row in MIXED_ROWS]
    assert scores.error == [None] * len(MIXED_ROWS)


def test_exact_values_of_a_small_batch():
    scores = score_batch(
        MIXED_CONFIG,
        ["5", "5", "B"],
        ["<think>t</think><answer>5</answer>", "<answer>6</answer>", "(B)"],
    )
    assert scores.reward == [0.2 + 0.3 + 0.5, 0.2 * 0.75, 0.0]
    assert scores.correct == [True, False, False]
    assert scores.components["reward_format"] == [1.0, 0.75, 0.0]


def test_an_empty_batch():
    scores = score_batch(MIXED_CONFIG, [], [])
    assert scores.reward == []
    assert scores.components == {
        "reward_format": [],
        "reward_exact_alnum": [],
        "reward_math_expr": [],
    }


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="2 ground truths but 1 responses"):
        score_batch(MIXED_CONFIG, ["5", "6"], ["<answer>5</answer>"])


def test_data_sources_of_the_wrong_length_raise_instead_of_dropping_rows():
    with pytest.raises(ValueError):
        score_batch(MIXED_CONFIG, ["5", "6", "7"], ["a", "b", "c"], data_sources=["math"])


@pytest.mark.parametrize(
    ("ground_truth", "response", "error"),
    [
        (None, "<answer>5</answer>", "ground_truth is missing"),
        (math.nan, "<answer>5</answer>", "ground_truth is missing"),
        ("5", None, "response is missing"),
        ("5", math.nan, "response is missing"),
        ("5", 5, "response is int, not a string"),
        (5, "<answer>5</answer>", "ground_truth is int, not a string"),
        ("5", ["<answer>5</answer>"], "response is list, not a string"),
    ],
)
def test_a_bad_row_scores_zero_and_the_rest_is_scored(ground_truth, response, error):
    scores = score_batch(
        MIXED_CONFIG,
        ["5", ground_truth, "6"],
        ["<think>t</think><answer>5</answer>", response, "<think>t</think><answer>6</answer>"],
    )
    assert scores.reward == [1.0, 0.0, 1.0]
    assert scores.correct == [True, False, True]
    assert scores.error == [None, error, None]
    assert scores.error_kind == [None, "bad_input", None]
    assert scores.extracted_answer == ["5", None, "6"]
    for column in scores.components.values():
        assert column[0] == 1.0
        assert math.isnan(column[1])
        assert column[2] == 1.0


USER_MODULE = '''
def picky_reward(ground_truth, response):
    """1.0 when the ground truth occurs in the response; refuses responses saying "boom"."""
    if "boom" in response:
        raise RuntimeError("cannot score this one")
    return (1.0 if ground_truth in response else 0.0), None
'''


def test_a_raising_user_function_spoils_only_its_row(module_dir):
    (module_dir / "batch_user_rewards.py").write_text(USER_MODULE, encoding="utf-8")
    config = load_config(
        {
            "reward_functions": [
                {"name": "batch_user_rewards:picky_reward", "weight": 1},
                {"name": "format", "weight": 1},
            ]
        }
    )
    scores = score_batch(
        config,
        ["a", "a", "b"],
        ["<answer>a</answer>", "boom <answer>a</answer>", "<answer>a</answer>"],
    )
    assert scores.reward == [0.5 * 1.0 + 0.5 * 0.75, 0.0, 0.5 * 0.0 + 0.5 * 0.75]
    assert scores.correct == [True, False, True]
    assert scores.error == [
        None,
        "batch_user_rewards:picky_reward raised RuntimeError: cannot score this one",
        None,
    ]
    assert scores.error_kind == [None, "reward_exception", None]
    picky = scores.components["reward_picky_reward"]
    assert [picky[0], picky[2]] == [1.0, 0.0]
    assert math.isnan(picky[1])
    assert scores.components["reward_format"] == [0.75, 0.75, 0.75]


def test_by_data_source_picks_the_reward_set_per_row():
    config = load_config(
        {
            "reward_functions": [{"name": "format", "weight": 1.0}],
            "by_data_source": {
                "geometry": {"reward_functions": [{"name": "geo3k", "weight": 1.0}]}
            },
        }
    )
    response = r"<think>angles</think> so \boxed{5}"
    scores = score_batch(
        config, ["5", "5", "5"], [response] * 3, data_sources=["geometry", "algebra", None]
    )
    assert scores.reward == [1.0, 0.25, 0.25]
    assert scores.correct == [True, True, True]
    assert list(scores.components) == ["reward_format", "reward_geo3k"]
    formats, geo = scores.components["reward_format"], scores.components["reward_geo3k"]
    assert math.isnan(formats[0])
    assert formats[1:] == [0.25, 0.25]
    assert geo[0] == 1.0
    assert math.isnan(geo[1])
    assert math.isnan(geo[2])
    assert scores.extracted_answer == ["5", None, None]
    assert scores.error == [None, None, None]


def test_duplicate_names_get_their_own_columns():
    config = load_config(
        {
            "reward_functions": [
                {"name": "format", "weight": 1},
                {"name": "format", "weight": 3, "kwargs": {"think_tag": "reasoning"}},
            ]
        }
    )
    scores = score_batch(config, ["a"], ["<reasoning>r</reasoning><answer>a</answer>"])
    assert scores.components == {"reward_format": [0.75], "reward_format_2": [1.0]}
    assert scores.reward == [0.25 * 0.75 + 0.75 * 1.0]
    assert scores.correct == [True]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The benchmark corpus: 60 prompts x 8 samples."""
    return read_rows(write_corpus(tmp_path_factory.mktemp("corpus") / "rollouts.jsonl", 60, 8))


def test_the_benchmark_corpus_scores_as_combine_reward_functions(corpus):
    assert len(corpus) == 480
    ground_truths = [row["ground_truth"] for row in corpus]
    responses = [row["response"] for row in corpus]
    config = load_config(
        {
            # limits of their own: no verdict remembered for the plain functions' is reused
            "sample_timeout": 4.0,
            "reward_functions": [
                {"name": "format", "weight": 0.2},
                {"name": "math_expr", "weight": 0.8},
            ],
        }
    )
    combined = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])

    expected = [combined(gt, response) for gt, response in zip(ground_truths, responses)]
    scores = score_batch(config, ground_truths, responses)

    assert list(zip(scores.reward, scores.correct)) == expected
    assert 0 < sum(scores.correct) < len(corpus)


@pytest.mark.parametrize("reverse", [False, True], ids=["as listed", "reversed"])
def test_the_extracted_answer_does_not_depend_on_the_listing_order(reverse):
    entries = [
        {"name": "exact_alnum_with_fallback", "weight": 1.0},
        {"name": "geo3k", "weight": 1.0},
        {"name": "bbox_giou", "weight": 2.0},
    ]
    config = load_config({"reward_functions": entries[::-1] if reverse else entries})
    responses = [
        r"<think>so</think> \boxed{5}",  # geo3k's box; the fallback's whole response comes last
        "<answer>[0, 0, 1, 1]</answer> or \\boxed{7}",  # bbox_giou weighs more than geo3k
        "<answer>A</answer>",  # exact and bbox both read the tag
        "no answer at all",  # only the fallback
    ]

    scores = score_batch(config, ["5", "[0, 0, 1, 1]", "A", "x"], responses)

    assert scores.extracted_answer == ["5", "[0, 0, 1, 1]", "A", "no answer at all"]


@pytest.mark.slow
def test_a_row_with_an_error_scores_zero_whatever_its_other_rewards_gave():
    config = load_config(
        {
            "sample_timeout": 1,
            "reward_functions": [
                {"name": "format", "weight": 0.2},
                {"name": "math_expr", "weight": 0.8},
            ],
        }
    )
    timed_out = "<think>t</think><answer>9^{9^{9^{9^{9}}}}</answer>"

    scores = score_batch(config, ["5"], [timed_out])

    assert (scores.reward, scores.correct) == ([0.0], [False])
    assert scores.error_kind == ["timeout"]
    assert scores.error == ["math-verify took over 1 s"]
    assert scores.components["reward_format"] == [1.0]  # what format said is kept
    assert math.isnan(scores.components["reward_math_expr"][0])
    assert scores.extracted_answer == ["9^{9^{9^{9^{9}}}}"]


def unseen_numbers(count: int) -> list[str]:
    """Integers no other test asks math-verify about, so this process's memo knows none."""
    return [str(number) for number in random.Random().sample(range(10**9, 10**10), count)]


def test_score_batch_says_what_math_verify_was_asked_and_what_its_memo_answered():
    a, b, c = unseen_numbers(3)
    ground_truths = [a, a, b, c, c, c, a, None]
    responses = [f"<answer>{a}</answer>", f"<answer>{a}</answer>", f"<answer>{b}</answer>"]
    responses += [f"<think>t</think><answer>{c}.0</answer>"] * 3 + ["no tag", "<answer>1</answer>"]
    config = load_config(FORMAT_AND_MATH)

    first = score_batch(config, ground_truths, responses).stats
    again = score_batch(config, ground_truths, responses).stats

    assert len(first.math_verify_seconds) == 3  # three distinct questions, asked once each
    assert all(0 < seconds < 5 for seconds in first.math_verify_seconds)
    assert first.memo_hits == 6 - 3  # six rows ask; the repeats are answered from the memo
    assert first.seconds["math-verify"] >= sum(first.math_verify_seconds)
    assert first.seconds["other-rewards"] > 0  # the format reward
    assert first.seconds["user-functions"] == 0
    assert again.math_verify_seconds == []
    assert again.memo_hits == 6


def test_a_users_function_spends_its_own_time(module_dir):
    (module_dir / "slow_reward.py").write_text(
        "import time\n\ndef score(ground_truth, response):\n    time.sleep(0.1)\n"
        "    return (1.0, True)\n"
    )
    config = load_config({"reward_functions": [{"name": "slow_reward:score", "weight": 1.0}]})

    stats = score_batch(config, ["a"] * 4, ["b"] * 4).stats

    assert stats.seconds["user-functions"] >= 0.4
    assert stats.seconds["math-verify"] < 0.1
    assert stats.math_verify_seconds == [] and stats.memo_hits == 0
