"""rollscore used as a careless or hostile user would: every answer wrong, files of blank lines,
Parquet shards whose pandas types disagree, thousands of small files, a huge answer, two
environments, a second local process, misaligned batches."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from commands import finished
from rollscore.rewards import combine_reward_functions, format_reward, math_expression_reward

pytestmark = pytest.mark.slow  # every test here runs the command or a cluster

CONFIG_YAML = (
    "reward_functions:\n  - {name: format, weight: 0.2}\n  - {name: math_expr, weight: 0.8}\n"
)
MATH = combine_reward_functions([(format_reward, 0.2), (math_expression_reward, 0.8)])
RIGHT = MATH("1", "<answer>1</answer>")[0]  # 0.95: the answer tag, no think tag
WRONG = MATH("1", "<answer>2</answer>")[0]


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG_YAML)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def strict_json(text: str) -> object:
    """JSON as the standard has it: no NaN, no Infinity."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def numbers(value: object) -> list[float]:
    """Every number in a JSON document."""
    if isinstance(value, dict):
        return [number for item in value.values() for number in numbers(item)]
    if isinstance(value, list):
        return [number for item in value for number in numbers(item)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def test_a_run_where_every_answer_is_wrong_reports_finite_standard_json(tmp_path):
    config = tmp_path / "math.yaml"
    config.write_text("reward_functions:\n  - {name: math_expr, weight: 1.0}\n")
    rows = [
        {"ground_truth": "5", "response": "<answer>7</answer>", "data_source": source,
         "prompt": f"{source}-{index % 3}"}
        for source in ("math", "geometry") for index in range(12)
    ]  # fmt: skip
    inputs = write_jsonl(tmp_path / "wrong.jsonl", rows)

    run = finished("score", str(inputs), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    metrics = strict_json((tmp_path / "o" / "metrics.json").read_text())
    assert all(math.isfinite(number) for number in numbers(metrics))
    assert metrics["accuracy"] == 0.0
    assert metrics["by_data_source"]["math"]["accuracy"] == 0.0
    assert metrics["by_data_source"]["math"]["mean_reward_math_expr"] == 0.0
    assert "inf" not in run.stdout
    assert run.stdout.splitlines()[2].split()[:5] == ["geometry", "12", "0", "0", "0.000"]


def test_a_file_of_blank_lines_has_no_rows_and_leaves_nothing_behind(config, tmp_path):
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n   \n\t\n\n")
    out = tmp_path / "o"

    run = finished("score", str(blank), "--config", str(config), "--output", str(out))

    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == "rollscore: error: the inputs hold no rows"
    assert "Traceback" not in run.stderr
    assert not (out / "run.json").exists() and not (out / "scores").exists()


def test_blank_lines_among_rows_are_no_rows(config, tmp_path):
    inputs = tmp_path / "gappy.jsonl"
    row = json.dumps({"ground_truth": "1", "response": "<answer>1</answer>"})
    inputs.write_text(f"\n{row}\n\n\n{row}\n  \n")

    run = finished("score", str(inputs), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    assert pd.read_parquet(tmp_path / "o" / "scores")["reward"].tolist() == [RIGHT, RIGHT]


def test_parquet_shards_whose_ground_truths_pandas_typed_differently_are_read_as_text(
    config, tmp_path
):
    shards = tmp_path / "shards"
    shards.mkdir()
    numbers_only = pd.DataFrame({"ground_truth": [4, 12], "response": ["<answer>4</answer>"] * 2})
    texts = pd.DataFrame({"ground_truth": ["x^2", "7"], "response": ["<answer>x^2</answer>"] * 2})
    numbers_only.to_parquet(shards / "part-0.parquet")  # pandas writes int64
    texts.to_parquet(shards / "part-1.parquet")  # and strings here

    run = finished("score", str(shards), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    scored = pd.read_parquet(tmp_path / "o" / "scores")
    assert scored["ground_truth"].tolist() == ["4", "12", "x^2", "7"]
    assert scored["reward"].tolist() == [RIGHT, WRONG, RIGHT, WRONG]
    assert scored["error"].isna().all()


def test_many_one_row_files_share_partitions_and_every_row_comes_out_once(config, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(300):
        write_jsonl(
            folder / f"r{index:04d}.jsonl",
            [{"id": index, "ground_truth": str(index), "response": f"<answer>{index}</answer>"}],
        )

    run = finished(
        "score", str(folder), "--config", str(config), "--output", str(tmp_path / "o"),
        "--workers", "2",
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    parts = sorted((tmp_path / "o" / "scores").glob("part-*.parquet"))
    assert 1 < len(parts) <= 8  # at least 4 partitions per worker, not one per file
    scored = pd.read_parquet(tmp_path / "o" / "scores")
    assert scored["id"].tolist() == list(range(300))
    assert scored["reward"].tolist() == [RIGHT] * 300
