"""The partition kernel, called directly on pandas frames: no cluster needed."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollscore.pipeline.kernel import (
    scored_rows,
    scored_rows_meta,
    scores_meta,
    with_input_problems,
)
from rollscore.pipeline.responses import float_text, ground_truth_text
from rollscore.rewards import (
    ErrorKind,
    combine_reward_functions,
    format_reward,
    load_config,
    math_expression_reward,
)
from rollscore.rewards.result import Problem

CONFIG = load_config(
    {
        "reward_functions": [
            {"name": "format", "weight": 0.2},
            {"name": "math_expr", "weight": 0.8},
        ],
        "by_data_source": {"choice": {"reward_functions": [{"name": "exact_alnum", "weight": 1}]}},
    }
)


def values(column: pd.Series) -> list[object]:
    """A column as plain Python values, missing ones as None."""
    return [None if pd.isna(value) else value for value in column.tolist()]


def conversation(*assistant_contents: object) -> list[dict[str, object]]:
    return [{"role": "user", "content": "question"}] + [
        {"role": "assistant", "content": content} for content in assistant_contents
    ]


def test_scores_every_row_in_order_with_the_reward_functions_results():
    responses = [
        "<think>t</think><answer>3/4</answer>",
        "<answer>0.7</answer>",
        "no tags, 3/4",
        "<think>t</think><answer>\\frac{3}{4}</answer>",
    ]
    frame = pd.DataFrame(
        {"id": [4, 3, 2, 1], "ground_truth": ["\\frac{3}{4}"] * 4, "response": responses}
    )

    scored = scored_rows(frame, CONFIG)

    combined = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
    assert scored["id"].tolist() == [4, 3, 2, 1]
    assert scored["reward"].tolist() == [combined("\\frac{3}{4}", r)[0] for r in responses]
    assert scored["reward"].tolist() == [1.0, 0.75 * 0.2, 0.0, 1.0]
    assert scored["correct"].tolist() == [True, False, False, True]
    assert scored["reward_format"].tolist() == [1.0, 0.75, 0.0, 1.0]
    assert scored["reward_math_expr"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert values(scored["extracted_answer"]) == ["3/4", "0.7", None, "\\frac{3}{4}"]
    assert scored["error"].isna().all()


def test_a_message_log_gives_the_concatenated_assistant_contents():
    frame = pd.DataFrame(
        {
            "ground_truth": ["42", "42", "42", "42"],
            "message_log": [
                conversation("<think>6*7</think>", "<answer>42</answer>"),
                [{"role": "user", "content": "no answer from the model"}],
                conversation(42),
                '[{"role": "assistant", "content": "<answer>42</answer>"}]',
            ],
        }
    )

    scored = scored_rows(frame, CONFIG)

    assert scored["reward"].tolist() == [1.0, 0.0, 0.0, 0.8 + 0.2 * 0.75]
    assert values(scored["error"]) == [
        None,
        "message_log has no assistant message",
        "assistant content is int, not a string or parts",
        None,
    ]
    assert values(scored["error_kind"]) == [None, "bad_input", "bad_input", None]


def test_bad_rows_score_zero_with_their_error_and_never_stop_the_partition():
    frame = pd.DataFrame(
        {
            "ground_truth": [None, "5", "5", 7, "5"],
            "response": ["<answer>5</answer>", None, "<answer>5</answer>", "<answer>7</answer>", 5],
        }
    )
    unreadable = Problem(ErrorKind.UNREADABLE_ROW, "f.jsonl line 3 is not valid JSON")
    frame = with_input_problems(frame, [None, None, unreadable, None, None])

    scored = scored_rows(frame, CONFIG)

    assert list(scored.columns[:2]) == ["ground_truth", "response"]
    assert list(scored.columns[2:]) == list(scores_meta(CONFIG).columns)
    assert scored["reward"].tolist() == [0.0, 0.0, 0.0, 0.75 * 0.2 + 1.0 * 0.8, 0.0]
    assert values(scored["error"]) == [
        "ground_truth is missing",
        "response is missing",
        "f.jsonl line 3 is not valid JSON",
        None,
        "response is int, not a string",
    ]
    assert values(scored["error_kind"]) == [
        "bad_input",
        "bad_input",
        "unreadable_row",
        None,
        "bad_input",
    ]


def test_rows_of_a_listed_data_source_use_that_sources_rewards():
    frame = pd.DataFrame(
        {
            "ground_truth": ["B", "B"],
            "response": ["<answer>(b)</answer>", "<answer>Jupiter</answer>"],
            "data_source": ["choice", "math"],
        }
    )

    scored = scored_rows(frame, CONFIG)

    assert scored["reward"].tolist() == [1.0, 0.75 * 0.2 + 0.0 * 0.8]
    assert values(scored["reward_exact_alnum"]) == [1.0, None]
    assert values(scored["reward_math_expr"]) == [None, 0.0]
    assert values(scored["reward_format"]) == [None, 0.75]


@pytest.mark.parametrize("rows", [0, 3])
def test_the_meta_is_exactly_what_the_kernel_returns(rows):
    frame = pd.DataFrame({"ground_truth": ["1"] * rows, "response": ["<answer>1</answer>"] * rows})

    assert scored_rows_meta(frame, CONFIG).dtypes.equals(scored_rows(frame, CONFIG).dtypes)


def test_content_parts_of_a_message_log_are_scored_on_their_text_parts_joined():
    parts = [
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
        {"type": "text", "text": "<think>a cat</think>"},
        {"type": "text", "text": "<answer>42</answer>"},
    ]
    frame = pd.DataFrame(
        {
            "ground_truth": ["42", "42", "42"],
            "message_log": [
                [{"role": "user", "content": parts[:1]}, {"role": "assistant", "content": parts}],
                json.dumps(
                    [
                        {
                            "role": "assistant",
                            "content": [{"type": "text", "text": "<answer>42</answer>"}],
                        }
                    ]
                ),
                [{"role": "assistant", "content": [{"type": "text", "text": None}]}],
            ],
        }
    )

    scored = scored_rows(frame, CONFIG)

    combined = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
    assert scored["reward"].tolist() == [
        combined("42", "<think>a cat</think><answer>42</answer>")[0],
        combined("42", "<answer>42</answer>")[0],
        0.0,
    ]
    assert values(scored["error"]) == [None, None, "assistant text part is NoneType, not a string"]


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_ground_truth_is_written_out_in_full_and_reads_back_as_itself(number):
    text = float_text(number)

    assert "e" not in text and "." in text
    assert float(text) == number and str(float(text)) == repr(number)


def test_numeric_ground_truths_become_the_texts_math_verify_reads():
    assert [ground_truth_text(value) for value in (42, 5.0, 1e-05, 1e23, -2.5e-10)] == [
        "42", "5.0", "0.00001", "100000000000000000000000.0", "-0.00000000025"
    ]  # fmt: skip
    assert [ground_truth_text(value) for value in (float("nan"), True, None, "7")] == [
        None, True, None, "7"
    ]  # fmt: skip
