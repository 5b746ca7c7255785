"""The report of a scored dataset, checked against a hand-built dataset with known figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rollscore.pipeline.cli import main
from rollscore.pipeline.metrics import dataset_metrics
from rollscore.pipeline.report.data import (
    LENGTH_BINS,
    SAMPLE_LIMITS,
    TEXT_LIMIT,
    keep_samples,
    length_edges,
    partition_histograms,
    partition_samples,
    report_data,
    reward_edges,
)
from rollscore.pipeline.report.html import render_report
from rollscore.rewards import ErrorKind

SCRIPT = "<script>alert('x')</script>"
COLUMNS = (
    "id",
    "data_source",
    "prompt",
    "ground_truth",
    "response",
    "is_end",
    "generation_length",
    "reward",
    "correct",
    "reward_format",
    "reward_math_expr",
    "reward_exact_alnum",
    "extracted_answer",
    "error",
    "error_kind",
)
TYPES = {
    "is_end": pa.bool_(),
    "generation_length": pa.int64(),
    "reward": pa.float64(),
    "correct": pa.bool_(),
    "reward_format": pa.float64(),
    "reward_math_expr": pa.float64(),
    "reward_exact_alnum": pa.float64(),
}


def tagged(text: str) -> str:
    """An answer in the answer tag."""
    return f"<answer>{text}</answer>"


# id, source, prompt, ground truth, response, is_end, length, reward, correct,
# format, math_expr, exact_alnum, extracted answer, error, error kind
PART_0 = [
    ("m0", "math", "pA", "1/2", tagged("1/2"), True, 10, 1.0, True, 1.0, 1.0, None, "1/2", None,
     None),
    ("m1", "math", "pA", "1/2", tagged("2"), True, 20, 0.2, False, 1.0, 0.0, None, "2", None, None),
    ("m2", "math", "pB", "3", tagged("3"), True, 30, 1.0, True, 1.0, 1.0, None, "3", None, None),
    ("m3", "math", "pB", "3", SCRIPT, True, 40, 0.0, False, 0.0, 0.0, None, None, None, None),
    ("m4", "math", "pB", "3", "x" * 1000, True, 50, 0.0, False, None, None, None, None,
     "math-verify took over 5 s", "timeout"),
    ("c0", "choice", "pC", "B", tagged("B"), True, 15, 1.0, True, 1.0, None, 1.0, "B", None, None),
]  # fmt: skip
PART_1 = [
    ("c1", "choice", "pC", "B", tagged("A"), True, 25, 0.2, False, 1.0, None, 0.0, "A", None, None),
    ("c2", "choice", "pC", "B", tagged("B"), False, 35, 1.0, True, 1.0, None, 1.0, "B", None, None),
    ("c3", "choice", "pD", None, tagged("C"), True, 45, 0.0, False, None, None, None, None,
     "ground_truth is missing", "bad_input"),
    ("m5", "math", "pA", "1/2", f"<b>bold</b> & {SCRIPT}", True, 55, 0.0, False, None, None, None,
     None, "math_expr raised ValueError: <boom>", "reward_exception"),
]  # fmt: skip


def write_part(path: Path, rows: list[tuple]) -> None:
    columns = list(zip(*rows))
    table = pa.table(
        {
            name: pa.array(values, type=TYPES.get(name, pa.string()))
            for name, values in zip(COLUMNS, columns)
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> Path:
    """Ten scored rows in two parts, two data sources, three errors, and a metrics.json."""
    outdir = tmp_path_factory.mktemp("scored")
    write_part(outdir / "scores" / "part-00000.parquet", PART_0)
    write_part(outdir / "scores" / "part-00001.parquet", PART_1)
    (outdir / "metrics.json").write_text(json.dumps({"run": {"seconds": 12.5}}))
    return outdir


@pytest.fixture(scope="module")
def data(scored, client):
    return report_data(str(scored), client)


@pytest.fixture(scope="module")
def page(data) -> str:
    return render_report(data)


def frame() -> pd.DataFrame:
    return pd.DataFrame(PART_0 + PART_1, columns=COLUMNS)


@pytest.mark.slow
def test_headline_numbers_are_the_datasets(data):
    metrics = data.metrics
    assert metrics["rows"] == 10
    assert metrics["accuracy"] == pytest.approx(3.4 / 10)  # c2's reward is masked: not ended
    assert metrics["fraction_correct"] == pytest.approx(3 / 10)
    assert metrics["pass@k"] == pytest.approx({"1": 0.25, "2": 2 / 3})
    assert metrics["errors"] == 3
    assert metrics["timeouts"] == 1
    assert data.seconds == 12.5


# Worked out by hand from PART_0 and PART_1. Prompts (n samples, c correct and ended):
# math pA (3, 1), math pB (3, 1), choice pC (3, 1; c2 did not end), choice pD (1, 0).
# Votes (answer: samples, correct?; "-" abstains): pA 1/2: 1 yes, 2: 1 no, - 1; pB 3: 1 yes,
# - 2; pC B: 2 yes (c0 is correct), A: 1 no; pD - 1. maj@1 per prompt: 1/3, 1/3, 2/3, 0.
# maj@2 over the three pairs of each prompt: pA (1/2 + 1 + 0) / 3 (a tie counts half),
# pB (1 + 1 + 0) / 3, pC (1 + 1/2 + 1/2) / 3; pD has one sample only.
NO_KIND = {kind.value: 0 for kind in ErrorKind}
EXPECTED_MATH = {
    "rows": 6,
    "num_problems_in_batch": 6,
    "accuracy": pytest.approx(2.2 / 6),
    "fraction_correct": pytest.approx(2 / 6),
    "pass@samples_per_prompt": 1.0,
    "samples_per_prompt": 3,
    "num_prompts": 2,
    "pass@k": {"1": pytest.approx(1 / 3), "2": pytest.approx(2 / 3)},
    "maj@k": {"1": pytest.approx(1 / 3), "2": pytest.approx((1 / 2 + 2 / 3) / 2)},
    "fraction_of_samples_properly_ended": 1.0,
    "generation_lengths": pytest.approx(205 / 6),
    "prompt_lengths": None,
    "correct_solution_generation_lengths": 0,  # no prompt lengths to subtract
    "errors": 2,
    "timeouts": 1,
    "errors_by_kind": {**NO_KIND, "timeout": 1, "reward_exception": 1},
    "mean_reward_format": pytest.approx(3 / 4),
    "mean_reward_math_expr": pytest.approx(2 / 4),
    "mean_reward_exact_alnum": None,
}
EXPECTED_CHOICE = {
    "rows": 4,
    "num_problems_in_batch": 4,
    "accuracy": pytest.approx(1.2 / 4),
    "fraction_correct": pytest.approx(1 / 4),
    "pass@samples_per_prompt": 0.5,
    "samples_per_prompt": 3,
    "num_prompts": 2,
    "pass@k": {"1": pytest.approx(1 / 6), "2": pytest.approx(2 / 3)},
    "maj@k": {"1": pytest.approx(1 / 3), "2": pytest.approx(2 / 3)},
    "fraction_of_samples_properly_ended": pytest.approx(3 / 4),
    "generation_lengths": pytest.approx(30.0),
    "prompt_lengths": None,
    "correct_solution_generation_lengths": 0,
    "errors": 1,
    "timeouts": 0,
    "errors_by_kind": {**NO_KIND, "bad_input": 1},
    "mean_reward_format": 1.0,
    "mean_reward_math_expr": None,
    "mean_reward_exact_alnum": pytest.approx(2 / 3),
}
EXPECTED_METRICS = {
    "rows": 10,
    "num_problems_in_batch": 10,
    "accuracy": pytest.approx(3.4 / 10),
    "fraction_correct": pytest.approx(3 / 10),
    "pass@samples_per_prompt": pytest.approx(3 / 4),
    "samples_per_prompt": 3,
    "num_prompts": 4,
    "pass@k": {"1": pytest.approx(1 / 4), "2": pytest.approx(2 / 3)},
    "maj@k": {"1": pytest.approx(1 / 3), "2": pytest.approx((1 / 2 + 2 / 3 + 2 / 3) / 3)},
    "fraction_of_samples_properly_ended": pytest.approx(9 / 10),
    "generation_lengths": pytest.approx(32.5),
    "prompt_lengths": None,
    "correct_solution_generation_lengths": 0,
    "errors": 3,
    "timeouts": 1,
    "errors_by_kind": {**NO_KIND, "bad_input": 1, "timeout": 1, "reward_exception": 1},
    "mean_reward_format": pytest.approx(6 / 7),
    "mean_reward_math_expr": pytest.approx(2 / 4),
    "mean_reward_exact_alnum": pytest.approx(2 / 3),
    "by_data_source": {"choice": EXPECTED_CHOICE, "math": EXPECTED_MATH},
}


@pytest.mark.slow
def test_the_metrics_are_the_hand_computed_ones_in_the_report_and_in_metrics_json(
    scored, data, client
):
    assert data.metrics == EXPECTED_METRICS
    assert dataset_metrics(str(scored)) == EXPECTED_METRICS


@pytest.mark.slow
def test_the_report_reads_the_parts_the_metrics_read_and_no_copies_beside_them(
    scored, client, tmp_path
):
    """Copies of a part left in scores/ by hand (a file manager's "(copy)", a backup) are no
    part of the dataset: the report counts what ``rollscore metrics`` counts."""
    copied = tmp_path / "scored"
    shutil.copytree(scored, copied)
    part = copied / "scores" / "part-00001.parquet"
    shutil.copy(part, copied / "scores" / "part-00001 (copy).parquet")
    shutil.copy(part, copied / "scores" / "backup.parquet")

    assert report_data(str(copied), client).metrics == EXPECTED_METRICS
    assert dataset_metrics(str(copied)) == EXPECTED_METRICS


@pytest.mark.slow
def test_per_source_counts(data):
    sources = {source.name: source for source in data.sources}
    assert list(sources) == ["choice", "math"]
    assert (sources["math"].rows, sources["math"].correct) == (6, 2)
    assert (sources["choice"].rows, sources["choice"].correct) == (4, 1)
    assert sources["math"].metrics["pass@k"] == pytest.approx({"1": 1 / 3, "2": 2 / 3})
    assert sources["choice"].metrics["pass@k"] == pytest.approx({"1": 1 / 6, "2": 2 / 3})
    assert list(sources["math"].rewards) == ["reward", "reward_format", "reward_math_expr"]
    assert list(sources["choice"].rewards) == ["reward", "reward_format", "reward_exact_alnum"]


@pytest.mark.slow
def test_histograms_equal_numpy_histograms_of_the_same_values(data):
    rows = frame()
    counted_correct = rows["correct"] & rows["is_end"]
    for source in data.sources:
        of_source = rows[rows["data_source"] == source.name]
        for column, histogram in source.rewards.items():
            expected, _ = np.histogram(of_source[column].dropna(), bins=histogram.edges)
            assert histogram.counts == tuple(expected), (source.name, column)
            assert histogram.edges[0] == 0.0 and histogram.edges[-1] == 1.0
        correct = counted_correct[of_source.index]
        for histogram, lengths in (
            (source.length_correct, of_source["generation_length"][correct]),
            (source.length_incorrect, of_source["generation_length"][~correct]),
        ):
            expected, _ = np.histogram(lengths, bins=histogram.edges)
            assert histogram.counts == tuple(expected)
    assert data.length_label == "generation length"
    math = next(source for source in data.sources if source.name == "math")
    assert (math.length_correct.total, math.length_incorrect.total) == (2, 4)


@pytest.mark.slow
def test_error_counts_and_examples(data):
    assert data.error_counts == {**NO_KIND, "bad_input": 1, "timeout": 1, "reward_exception": 1}
    examples = {kind: [row.id for row in rows] for kind, rows in data.error_examples.items()}
    assert examples == {"bad_input": ["c3"], "timeout": ["m4"], "reward_exception": ["m5"]}
    timeout = data.error_examples["timeout"][0]
    assert len(timeout.response) == TEXT_LIMIT and timeout.response.endswith("…")
    assert timeout.error == "math-verify took over 5 s"


@pytest.mark.slow
def test_wrong_answers_are_the_incorrect_rows_without_an_error(data):
    wrong = {source.name: source.wrong_answers for source in data.sources}
    assert sorted(row.id for row in wrong["math"]) == ["m1", "m3"]
    assert [row.id for row in wrong["choice"]] == ["c1"]
    (c1,) = wrong["choice"]
    assert (c1.ground_truth, c1.extracted_answer, c1.reward) == ("B", "A", 0.2)


@pytest.mark.slow
def test_the_page_shows_every_section_with_texts_escaped(page, scored):
    assert "<script" not in page
    assert escape(SCRIPT) in page
    assert escape("ValueError: <boom>") in page
    assert escape("<b>bold</b> &") in page
    assert f"rollscore report: {scored}" in page
    for heading in ("By data source", "Data source: math", "Data source: choice", "Errors"):
        assert heading in page
    assert re.search(r'<div class="value">0\.340</div><div class="label">accuracy', page)
    assert re.search(r'<div class="value">12\.5 s</div><div class="label">run time', page)
    assert re.search(r'<div class="value">61\.1%</div><div class="label">maj@2', page)  # 11/18
    assert re.search(r"<th[^>]*>maj@2</th>", page)
    # 2 overview charts; per source: combined reward, 2 components, length
    assert page.count('<img src="data:image/png;base64,') == 2 + 2 * 4
    assert "http://" not in page and "https://" not in page


def test_partition_histograms_count_in_numpy_bins():
    rows = frame()
    edges = reward_edges(0.0, 1.0)
    counts = partition_histograms(rows, {("math", "reward"): edges}, "generation_length")
    expected, _ = np.histogram(rows["reward"][rows["data_source"] == "math"], bins=edges)
    assert counts["count"].tolist() == expected.tolist()
    assert set(counts["column"]) == {"reward"}


def test_bins_fit_the_values():
    assert reward_edges(0.0, 1.0).tolist() == np.linspace(0, 1, 21).tolist()
    assert reward_edges(-0.25, 1.0)[0] == -1.0
    assert reward_edges(3.0, 3.0).tolist() == np.linspace(2.5, 3.5, 21).tolist()
    assert length_edges(55, 62).tolist() == list(range(55, 64))
    wide = length_edges(0, 4000)
    assert len(wide) <= LENGTH_BINS + 1 and wide[-1] > 4000 and np.all(np.diff(wide) % 1 == 0)


def test_samples_are_bounded_per_group_whatever_the_partitions():
    many = pd.DataFrame(
        {
            "data_source": ["a"] * 50 + ["b"] * 50,
            "response": [f"response {index}" for index in range(100)],
            "reward": 0.0,
            "correct": False,
            "error": [None] * 90 + ["slow"] * 10,
            "error_kind": [None] * 90 + ["timeout"] * 10,
        }
    )
    first, second = partition_samples(many.iloc[:50]), partition_samples(many.iloc[50:])
    merged = keep_samples(pd.concat([first, second]))
    sizes = merged.groupby(["section", "group"]).size().to_dict()
    assert sizes == {
        ("error", "timeout"): SAMPLE_LIMITS["error"],
        ("wrong", "a"): SAMPLE_LIMITS["wrong"],
        ("wrong", "b"): SAMPLE_LIMITS["wrong"],
    }
    # the same rows, whichever way the dataset was partitioned
    whole = keep_samples(partition_samples(many))
    assert sorted(whole["response"]) == sorted(merged["response"])


def rollscore(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rollscore.pipeline.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_rollscore_report_writes_one_self_contained_page(scored, tmp_path):
    done = rollscore("report", str(scored), "--workers", "1")
    assert done.returncode == 0, done.stderr
    page = (scored / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Data source: math" in page
    assert f"report written to {scored / 'report.html'}" in done.stdout
    elsewhere = tmp_path / "elsewhere.html"
    assert main(["report", str(scored), "--output", str(elsewhere), "--workers", "1"]) == 0
    assert elsewhere.read_text().count("<img ") == page.count("<img ")


def write_unscored_part(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), path)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda path: None, "does not exist"),
        (lambda path: path.mkdir(), "no scores/part-*.parquet"),
        (lambda path: write_unscored_part(path / "random.parquet"), "no scores/part-*.parquet"),
        (
            lambda path: write_unscored_part(path / "scores" / "part-00000.parquet"),
            "has no reward, correct, error, error_kind column",
        ),
    ],
    ids=["missing", "empty", "random-parquet", "unscored-parts"],
)
def test_a_folder_that_is_not_a_scored_dataset_exits_2(tmp_path, capsys, make, message):
    outdir = tmp_path / "outdir"
    make(outdir)
    assert main(["report", str(outdir)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("rollscore: error: ") and message in error
    assert error.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("command", ["report", "score"])
def test_without_matplotlib_the_report_is_refused_before_any_work(
    tmp_path, capsys, monkeypatch, command
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    examples = Path(__file__).resolve().parents[1] / "examples"
    arguments = {
        "report": ["report", str(tmp_path)],
        "score": [
            "score", str(examples / "rollouts.jsonl"), "--config", str(examples / "config.yaml"),
            "--output", str(tmp_path / "out"), "--report",
        ],
    }[command]  # fmt: skip

    assert main(arguments) == 2
    assert capsys.readouterr().err == (
        "rollscore: error: the report draws its charts with matplotlib, which is not "
        "installed: pip install 'rollscore[report]'\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_resume_without_matplotlib_keeps_the_earlier_report_and_says_so(
    tmp_path, capsys, monkeypatch
):
    examples = Path(__file__).resolve().parents[1] / "examples"
    out = tmp_path / "out"
    command = ["score", str(examples / "rollouts.jsonl"), "--config",
               str(examples / "config.yaml"), "--output", str(out)]  # fmt: skip
    assert main([*command, "--partition-rows", "10"]) == 0
    (out / "scores" / "part-00001.parquet").unlink()  # as an interrupted run leaves it
    assert main(["report", str(out)]) == 0
    earlier = (out / "report.html").read_text()
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # gone since the report was written

    assert main([*command, "--resume"]) == 0

    assert (out / "report.html").read_text() == earlier
    assert (
        f"rollscore: warning: {out / 'report.html'} was written before the run finished and is "
        "not written again (the report draws its charts with matplotlib, which is not "
        "installed: pip install 'rollscore[report]')"
    ) in capsys.readouterr().err.splitlines()


def test_a_missing_folder_exits_2_from_the_command_line_without_a_traceback(tmp_path):
    done = rollscore("report", str(tmp_path / "missing"))
    assert done.returncode == 2
    missing = tmp_path / "missing"
    assert done.stderr == f"rollscore: error: {missing} does not exist or is not a folder\n"


@pytest.mark.slow
def test_score_with_report_writes_the_report_at_the_end_of_the_run(tmp_path):
    examples = Path(__file__).resolve().parents[1] / "examples"
    outdir = tmp_path / "scored"
    done = rollscore(
        "score",
        str(examples / "rollouts.jsonl"),
        "--config",
        str(examples / "config.yaml"),
        "--output",
        str(outdir),
        "--workers",
        "1",
        "--report",
    )
    assert done.returncode == 0, done.stderr
    page = (outdir / "report.html").read_text()
    assert "Data source: bbox" in page and "unreadable_row (1)" in page
    assert f"report written to {outdir / 'report.html'}" in done.stdout


@pytest.mark.slow
def test_rewards_at_the_ends_of_the_float_range_still_make_a_report(tmp_path, client):
    largest = float(np.finfo(float).max)
    rows = {
        "reward": [largest, 0.0, -1e308, 0.5],
        "correct": [True, False, False, True],
        "reward_mine": [largest, 0.0, -1e308, 0.5],
        "error": pa.array([None] * 4, pa.string()),
        "error_kind": pa.array([None] * 4, pa.string()),
        "response": ["a", "b", "c", "d"],
        "generation_length": [1, 2, 3, 10**18],
    }
    (tmp_path / "scores").mkdir()
    pq.write_table(pa.table(rows), tmp_path / "scores" / "part-00000.parquet")

    data = report_data(str(tmp_path), client)
    page = render_report(data)

    (source,) = data.sources
    assert source.rewards["reward"].total == 4
    assert np.all(np.diff(source.rewards["reward"].edges) > 0)
    assert "-1e+308" in page  # the wrong answer's reward, compactly
    assert "0" * 20 not in page
    assert page.count("<img ") == 2 + 3


def test_edges_stay_increasing_and_finite_at_the_ends_of_the_float_range():
    largest = float(np.finfo(float).max)
    for low, high in [(-largest, largest), (largest, largest), (-largest, -largest), (0, 1e308)]:
        edges = reward_edges(low, high)
        assert np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)
        assert edges[0] <= low and edges[-1] >= high
