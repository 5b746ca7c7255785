"""rollscore used as a careless or hostile user would: every answer wrong, files of blank lines,
text in another encoding or not UTF-8, Parquet shards whose pandas types disagree, thousands of
small files, a huge answer, two environments, a second local process, misaligned batches."""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from commands import finished, rollscore, wait_for
from distributed import Client
from rollscore.pipeline.kernel import INPUT_PROBLEM_COLUMN
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


def scored_with_one_bad_row(config: Path, inputs: Path, out: Path) -> pd.DataFrame:
    """The scores of a run over three rows of which the second cannot be read: the run goes on,
    and only that row is in error."""
    run = finished("score", str(inputs), "--config", str(config), "--output", str(out))
    assert run.returncode == 0, run.stderr
    scores = pd.read_parquet(out / "scores")
    assert scores["reward"].tolist() == [RIGHT, 0.0, RIGHT]
    assert scores["error"].isna().tolist() == [True, False, True]
    return scores


def test_a_line_in_another_encoding_holding_a_lone_surrogate_is_one_bad_row(config, tmp_path):
    """json reads a line holding NUL bytes as UTF-16 or UTF-32, where an unpaired surrogate has
    no byte that marks it in UTF-8."""
    inputs = tmp_path / "mixed.jsonl"
    fine = json.dumps({"ground_truth": "1", "response": "<answer>1</answer>"}).encode()
    hostile = '{"ground_truth": "1", "response": "\ud800<answer>1</answer>"}'
    inputs.write_bytes(b"\n".join([fine, hostile.encode("utf-16-le", "surrogatepass"), fine]))

    scores = scored_with_one_bad_row(config, inputs, tmp_path / "o")

    assert scores["error"][1] == (
        f"{inputs} line 2 holds text that is not valid Unicode (an unpaired surrogate, "
        "replaced by U+FFFD)"
    )
    assert scores["response"][1] == "\ufffd<answer>1</answer>"


def test_json_in_another_encoding_or_with_a_bom_is_read_row_for_row(config, tmp_path):
    """Windows tools write JSON in UTF-16 with a byte-order mark (PowerShell's Out-File) or in
    UTF-8 with one; json reads every encoding the standard allows. A line holding an unpaired
    surrogate is one bad row, as in UTF-8."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rows = [{"ground_truth": "1", "response": "<answer>1</answer>"}] * 3
    hostile = '{"ground_truth": "1", "response": "\\ud800<answer>1</answer>"}'
    lines = "\r\n".join([json.dumps(rows[0]), "", hostile, json.dumps(rows[0])]) + "\r\n"
    encodings = ["utf-16", "utf-16-le", "utf-8-sig", "utf-32-be"]
    for encoding in encodings:
        (inputs / f"{encoding}.json").write_bytes(json.dumps(rows, indent=2).encode(encoding))
        (inputs / f"{encoding}.jsonl").write_bytes(lines.encode(encoding))

    run = finished("score", str(inputs), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    scores = pd.read_parquet(tmp_path / "o" / "scores")
    expected = []  # each file's rows, in the order of the files' names
    for path in sorted(map(str, inputs.iterdir())):
        if path.endswith(".json"):
            expected += [(RIGHT, None)] * 3
        else:
            surrogate = (
                f"{path} line 3 holds text that is not valid Unicode (an unpaired surrogate, "
                "replaced by U+FFFD)"
            )
            expected += [(RIGHT, None), (0.0, surrogate), (RIGHT, None)]
    errors = [None if pd.isna(error) else error for error in scores["error"]]
    assert list(zip(scores["reward"], errors)) == expected


def test_each_line_of_json_lines_is_one_row_however_the_file_starts_or_spaces_them(
    config, tmp_path
):
    """A ``.jsonl`` file is read line by line whatever its first bytes: a NUL byte or a stray
    byte-order mark (a file damaged at its start), a first line in UTF-16, or a JSON array, is
    one bad line, never the whole file. A line is blank only if it holds nothing but JSON's
    white space (after a byte-order mark), in any encoding: one holding a form feed or a Unicode
    space is a row that does not parse."""
    rows = [
        json.dumps({"id": index, "ground_truth": "1", "response": "<answer>1</answer>"})
        for index in range(3)
    ]
    good = "".join(row + "\n" for row in rows)
    spaced = "\x0c\n" + good + "\u00a0\n\u2028\n\x0b\n"
    other = json.dumps({"id": 9, "ground_truth": "1", "response": "<answer>1</answer>"})
    not_json, not_object = "is not valid JSON", "is not a JSON object"
    files = {  # each file's bytes, and each row's id, or the error of its line
        "a-nul.jsonl": (b"\x00" + good.encode(), [not_json, 1, 2]),
        "b-mark.jsonl": (b"\xff\xfe cut\n" + good.encode(), [not_json, 0, 1, 2]),
        "c-utf16.jsonl": (other.encode("utf-16-le") + b"\n" + good.encode(), [9, 0, 1, 2]),
        "d-array.jsonl": (("[]\n" + good).encode(), [not_object, 0, 1, 2]),
        "e-utf8.jsonl": (spaced.encode(), [not_json, 0, 1, 2, not_json, not_json, not_json]),
        "f-utf16.jsonl": (spaced.encode("utf-16"), [not_json, 0, 1, 2, *[not_json] * 3]),
        "g-bom.jsonl": (b"\xef\xbb\xbf\n" + good.encode() + b"\r\n \t\n", [0, 1, 2]),
    }
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)

    run = finished("score", str(folder), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    scored = pd.read_parquet(tmp_path / "o" / "scores")
    expected = []  # each row's id, or the start of its error, file after file
    for name, (_, lines) in files.items():
        expected += [
            (line, None) if isinstance(line, int) else (None, f"{folder / name} line {n} {line}")
            for n, line in enumerate(lines, start=1)
        ]
    got = [
        (
            None if pd.isna(row_id) else int(row_id),
            None if pd.isna(error) else error[: len(start or "")],
        )
        for row_id, error, (_, start) in zip(scored["id"], scored["error"], expected)
    ]
    assert len(scored) == len(expected) and got == expected


def test_a_file_and_a_link_to_it_or_another_spelling_of_it_are_scored_once(config, tmp_path):
    """A "latest" link beside the file it names, in a folder given whole, or a path with ``//``
    or ``/./`` in it, names a file already named: its rows are scored once, not twice."""
    rows = [
        {"id": index, "ground_truth": "1", "response": "<answer>1</answer>"} for index in range(3)
    ]
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "run1.jsonl", rows)
    (folder / "latest.jsonl").symlink_to("run1.jsonl")
    named = [str(folder), f"{tmp_path}/./runs/run1.jsonl", f"{tmp_path}//runs//latest.jsonl"]

    run = finished("score", *named, "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    assert pd.read_parquet(tmp_path / "o" / "scores")["id"].tolist() == [0, 1, 2]
    assert any(
        line.startswith("rollscore: warning: skipped 3 files named again (each is scored once)")
        for line in run.stderr.splitlines()
    ), run.stderr


def test_a_nan_ground_truth_is_missing_whatever_the_other_rows_hold(config, tmp_path):
    """Python's json writes a missing number (pandas' NaN) as NaN. Beside text ground truths it
    was read as the text "NaN" and scored; beside numbers, and in the service, it is missing."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, other in (("beside-text.jsonl", "1"), ("beside-numbers.jsonl", 1)):
        rows = [{"ground_truth": math.nan, "response": "<answer>NaN</answer>", "note": math.nan},
                {"ground_truth": other, "response": "<answer>1</answer>", "note": "n"}]  # fmt: skip
        (inputs / name).write_text("".join(json.dumps(row) + "\n" for row in rows))

    run = finished("score", str(inputs), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    scores = pd.read_parquet(tmp_path / "o" / "scores")
    assert scores["reward"].tolist() == [0.0, RIGHT] * 2
    assert scores["error"].fillna("").tolist() == ["ground_truth is missing", ""] * 2
    assert scores["note"].fillna("").tolist() == ["", "n"] * 2


def test_a_named_pipe_among_the_inputs_is_refused_in_one_line_not_waited_on(config, tmp_path):
    """The plan reads every file, then the workers read it again: a named pipe's writer (a
    ``mkfifo`` fed by a decompressor, say) has long gone by the second read."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"ground_truth": "1", "response": "<answer>1</answer>"}])
    os.mkfifo(folder / "b.jsonl")

    for given in (folder, folder / "b.jsonl", folder / "*.jsonl"):
        run = subprocess.run(
            [sys.executable, "-m", "rollscore.pipeline.cli", "score", str(given), "--config",
             str(config), "--output", str(tmp_path / "o")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

        assert run.returncode == 2
        assert run.stderr == (
            f"rollscore: error: input {str(given)!r}: {folder / 'b.jsonl'} is not a regular "
            "file (a pipe, socket or device); rollscore reads a file more than once: save it "
            "to a file first\n"
        )


def test_parquet_text_that_is_not_valid_utf8_is_one_bad_row(config, tmp_path):
    """Parquet readers do not check that text is UTF-8, as some writers do not: a response of
    bytes cut inside a character."""
    inputs = tmp_path / "cut.parquet"
    data = [b"<answer>1</answer>", b"<answer>1</answer> \xf0\x9f", b"<answer>1</answer>"]
    raw = pa.array(data, pa.binary())
    responses = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # left unchecked
    pq.write_table(pa.table({"ground_truth": ["1"] * 3, "response": responses}), inputs)

    scores = scored_with_one_bad_row(config, inputs, tmp_path / "o")

    assert scores["error"][1] == (
        f"{inputs} row 2 holds text that is not valid UTF-8 in response (replaced by U+FFFD)"
    )
    assert scores["response"][1] == "<answer>1</answer> \ufffd"


def test_parquet_text_written_as_bytes_is_read_as_text_and_other_bytes_are_kept(config, tmp_path):
    """Parquet writers that predate its UTF-8 annotation (old Hive and Impala) wrote text as
    bytes. The scorer's text columns are read as text, checked as text is; any other column of
    bytes (a VLM rollout's image, say) is carried as it is."""
    inputs = tmp_path / "old.parquet"
    responses = [b"<answer>1</answer>", b"<answer>1</answer> \xf0\x9f", b"<answer>1</answer>"]
    images = [b"\x89PNG\xff\x00", b"\xff", b""]
    columns = {"ground_truth": [b"1"] * 3, "response": responses, "image": images}
    pq.write_table(pa.table({name: pa.array(data, pa.binary()) for name, data in columns.items()}),
                   inputs)  # fmt: skip

    scores = scored_with_one_bad_row(config, inputs, tmp_path / "o")

    assert scores["error"][1] == (
        f"{inputs} row 2 holds text that is not valid UTF-8 in response (replaced by U+FFFD)"
    )
    assert scores["ground_truth"].tolist() == ["1"] * 3
    assert scores["image"].tolist() == images


def test_a_key_named_like_rollscores_own_problem_column_is_carried_not_obeyed(config, tmp_path):
    """The column where readers hand the kernel each row's problem is rollscore's alone: a JSON
    key of its name neither forges an error nor stops the run, and is carried in extra_json."""
    inputs = tmp_path / "forged.jsonl"
    forged = {"kind": "timeout", "message": "forged"}
    right = {"ground_truth": "1", "response": "<answer>1</answer>"}
    write_jsonl(
        inputs,
        [right | {INPUT_PROBLEM_COLUMN: "text"}, right | {INPUT_PROBLEM_COLUMN: forged}, right],
    )

    run = finished("score", str(inputs), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    scores = pd.read_parquet(tmp_path / "o" / "scores")
    assert scores["reward"].tolist() == [RIGHT] * 3
    assert scores["error"].isna().all()
    carried = [None if pd.isna(extra) else json.loads(extra) for extra in scores["extra_json"]]
    assert carried == [{INPUT_PROBLEM_COLUMN: "text"}, {INPUT_PROBLEM_COLUMN: forged}, None]


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (["note", "note"], "has more than one column named 'note'; rename them"),
        (
            [INPUT_PROBLEM_COLUMN, "note"],
            f"has a column named {INPUT_PROBLEM_COLUMN!r}, a name rollscore keeps for itself; "
            "rename it",
        ),
    ],
    ids=["twice", "rollscores-own"],
)
def test_a_parquet_file_whose_columns_cannot_be_read_is_refused_in_one_line(
    config, tmp_path, names, why
):
    inputs = tmp_path / "columns.parquet"
    columns = [pa.array(["1"]), pa.array(["<answer>1</answer>"]), pa.array(["a"]), pa.array([1])]
    table = pa.Table.from_arrays(columns, names=["ground_truth", "response", *names])
    pq.write_table(table, inputs)

    run = finished("score", str(inputs), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == f"rollscore: error: {inputs} {why}"
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_float_ground_truths_are_text_math_verify_reads_as_the_same_number(config, tmp_path, kind):
    """Python writes 0.00001 as 1e-05, which math-verify does not read as that number: a
    right answer would score as wrong."""
    numbers = [0.00001, 1e23, 1.5e-7, -2.5e-10, 5.0, 1e16]
    answers = [
        "0.00001",
        "100000000000000000000000",
        "0.00000015",
        "-0.00000000025",
        "5",
        "10000000000000000",
    ]
    rows = [
        {"ground_truth": number, "response": f"<answer>{answer}</answer>"}
        for number, answer in zip(numbers, answers)
    ]
    inputs = tmp_path / f"floats.{kind}"
    if kind == "jsonl":
        write_jsonl(inputs, rows)
    else:
        pd.DataFrame(rows).to_parquet(inputs)

    run = finished("score", str(inputs), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 0, run.stderr
    assert pd.read_parquet(tmp_path / "o" / "scores")["reward"].tolist() == [RIGHT] * len(rows)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("rows.jsonl.gz", b"not gzip", "Not a gzipped file (b'no')"),
        (
            "rows.jsonl.gz",
            gzip.compress(b'{"ground_truth": "1", "response": "x"}\n' * 50)[:40],
            "Compressed file ended before the end-of-stream marker was reached",
        ),
        ("rows.parquet", b"ground_truth,response\n1,x\n", "Parquet magic bytes not found"),
        ("rows.parquet", "zeroed", "Couldn't deserialize thrift"),
    ],
    ids=["not-gzip", "cut-gzip", "not-parquet", "damaged-parquet"],
)
def test_a_file_that_is_not_what_its_name_says_is_refused_naming_it(
    config, tmp_path, name, content, why
):
    """In a folder of many files, the one that cannot be read is named, in one line."""
    folder = tmp_path / "shards"
    folder.mkdir()
    write_jsonl(folder / "fine.jsonl", [{"ground_truth": "1", "response": "x"}])
    if content == "zeroed":  # pages damaged, footer whole: found when the rows are read
        pq.write_table(pa.table({"ground_truth": ["1"], "response": ["x"]}), folder / name)
        damage(folder / name, "zeroed")
    else:
        (folder / name).write_bytes(content)

    run = finished("score", str(folder), "--config", str(config), "--output", str(tmp_path / "o"))

    assert run.returncode == 2
    last = run.stderr.splitlines()[-1]
    assert last.startswith(f"rollscore: error: cannot read input {folder / name}: ") and why in last
    assert "Traceback" not in run.stderr and "Compute Failed" not in run.stderr


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


def test_parquet_rows_are_read_as_the_same_rows_in_json_lines_are(config, tmp_path):
    """A Parquet file's scorer columns and is_end are read as JSON's are, whatever the file
    typed them: an integer data_source routes and counts as its text, a list prompt (verl's
    chat) groups samples as its JSON text, a list or decimal ground truth is its text, and
    "false" in a text is_end is not ended. The same rows give the same scores and metrics."""
    chat = [[{"role": "user", "content": "q"}]] * 2 + [[{"role": "user", "content": "r"}]] * 2
    columns = {
        "id": [0, 1, 2, 3],
        "ground_truth": [["42"], ["42"], ["7"], ["7"]],
        "response": ["<answer>42</answer>", "<answer>41</answer>"] * 2,
        "data_source": [1, 1, 2, 2],
        "is_end": ["true", "false", "true", "false"],
        "prompt": chat,
    }
    decimal = {"id": [4], "ground_truth": [Decimal("1.5")], "response": ["<answer>1.5</answer>"]}
    parquet, lines = tmp_path / "parquet", tmp_path / "lines"
    parquet.mkdir()
    lines.mkdir()
    pq.write_table(pa.table(columns), parquet / "a.parquet")
    pq.write_table(pa.table(decimal), parquet / "b.parquet")
    write_jsonl(lines / "a.jsonl", pd.DataFrame(columns).to_dict("records"))
    write_jsonl(
        lines / "b.jsonl", [{"id": 4, "ground_truth": 1.5, "response": "<answer>1.5</answer>"}]
    )
    config.write_text(
        CONFIG_YAML
        + "by_data_source:\n  '2':\n    reward_functions: [{name: exact_alnum, weight: 1}]\n"
    )

    shown = ["id", "ground_truth", "data_source", "is_end", "prompt", "reward", "correct", "error"]
    scored, metrics = [], []
    for folder in (parquet, lines):
        run = finished("score", str(folder), "--config", str(config), "--output", str(folder / "o"))
        assert run.returncode == 0, run.stderr
        frame = pd.read_parquet(folder / "o" / "scores")[shown].astype(object)
        scored.append(frame.where(frame.notna(), None).values.tolist())
        figures = json.loads((folder / "o" / "metrics.json").read_text())
        metrics.append({key: value for key, value in figures.items() if key != "run"})

    assert scored[0] == scored[1]
    assert [row[5] for row in scored[0]] == [RIGHT, WRONG, 0.0, 0.0, RIGHT]
    assert [row[3] for row in scored[0]] == [True, False, True, False, None]
    assert metrics[0] == metrics[1]
    assert sorted(metrics[0]["by_data_source"]) == ["(none)", "1", "2"]
    assert metrics[0]["num_prompts"] == 3


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


def test_a_file_named_more_than_once_is_scored_once_and_the_repeats_named(config, tmp_path):
    folder = tmp_path / "rollouts"
    folder.mkdir()
    rows = [
        {"id": index, "ground_truth": str(index), "response": f"<answer>{index}</answer>"}
        for index in range(5)
    ]
    write_jsonl(folder / "a.jsonl", rows[:3])
    (folder / "b.jsonl.gz").write_bytes(
        gzip.compress(write_jsonl(tmp_path / "b", rows[3:]).read_bytes())
    )
    named = [str(folder), str(folder / "a.jsonl"), "./rollouts/a.jsonl", "rollouts/*.gz"]

    run = finished(
        "score", *named, "--config", str(config), "--output", str(tmp_path / "o"), cwd=tmp_path
    )

    assert run.returncode == 0, run.stderr
    scored = pd.read_parquet(tmp_path / "o" / "scores")
    assert scored["id"].tolist() == list(range(5)) and scored["reward"].tolist() == [RIGHT] * 5
    assert (
        f"rollscore: warning: skipped 3 files named again (each is scored once): "
        f"{folder / 'a.jsonl'}, {folder / 'a.jsonl'}, {folder / 'b.jsonl.gz'}"
    ) in run.stderr.splitlines()


def test_links_in_an_input_folder_are_read_as_their_targets_and_a_loop_once(config, tmp_path):
    rows = [
        {"id": index, "ground_truth": str(index), "response": f"<answer>{index}</answer>"}
        for index in range(6)
    ]
    store, folder = tmp_path / "store", tmp_path / "checkout"
    (store / "more").mkdir(parents=True)
    (folder / "real").mkdir(parents=True)
    write_jsonl(store / "a.jsonl", rows[:2])
    write_jsonl(store / "more" / "b.jsonl", rows[2:4])
    write_jsonl(folder / "real" / "c.jsonl", rows[4:])
    (folder / "a.jsonl").symlink_to(store / "a.jsonl")  # a file checked out as a link
    (folder / "linked").symlink_to(store / "more")  # a folder of them
    (folder / "real" / "loop").symlink_to(folder)
    command = ["score", str(folder), "--config", str(config), "--output", str(tmp_path / "o")]

    run = finished(*command)

    assert run.returncode == 0, run.stderr
    scored = pd.read_parquet(tmp_path / "o" / "scores")
    assert scored["id"].tolist() == list(range(6)) and scored["reward"].tolist() == [RIGHT] * 6

    (folder / "gone.jsonl").symlink_to(store / "gone.jsonl")
    refused = finished(*command, "--overwrite")
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1] == (
        f"rollscore: error: input {str(folder)!r}: {folder / 'gone.jsonl'} is a link to "
        f"nothing ({store / 'gone.jsonl'} does not exist)"
    )


def other_antlr_runtime(folder: Path) -> dict[str, str]:
    """An environment whose ANTLR runtime is another release than this one's, as installing
    omegaconf (4.9.3) or not (4.13.2) makes it: the package's metadata, first on the path."""
    installed = metadata.version("antlr4-python3-runtime")
    other = "4.13.2" if installed != "4.13.2" else "4.9.3"
    info = folder / f"antlr4_python3_runtime-{other}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: antlr4-python3-runtime\nVersion: {other}\n"
    )
    return {**os.environ, "PYTHONPATH": str(folder), "OTHER_ANTLR": other}


def test_a_run_resumed_under_another_verifier_stack_is_refused_naming_what_changed(
    corpus_path, config, tmp_path
):
    out = tmp_path / "out"
    command = ["score", str(corpus_path), "--config", str(config), "--output", str(out),
               "--partition-rows", "8"]  # fmt: skip
    first = rollscore(*command)
    wait_for(lambda: len(list((out / "scores").glob("part-*.parquet"))) >= 2)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    written = sorted((out / "scores").glob("part-*.parquet"))
    recorded = json.loads((out / "run.json").read_text())["verifier_stack"]
    assert recorded["versions"]["antlr4-python3-runtime"] == metadata.version(
        "antlr4-python3-runtime"
    )
    assert set(recorded["accelerations"]) == {"two_stage_parsing", "sympy_namespace"}

    elsewhere = other_antlr_runtime(tmp_path / "other-stack")
    refused = finished(*command, "--resume", env=elsewhere)

    assert refused.returncode == 2
    installed = metadata.version("antlr4-python3-runtime")
    assert refused.stderr.splitlines()[-1].startswith(
        f"rollscore: error: cannot resume {out}: the verifier stack changed since it started "
        f"(antlr4-python3-runtime {installed} -> {elsewhere['OTHER_ANTLR']}"
    )
    assert sorted((out / "scores").glob("part-*.parquet")) == written  # nothing more scored

    resumed = finished(*command, "--resume")  # where it started: finished, each row once
    assert resumed.returncode == 0, resumed.stderr
    assert len(pd.read_parquet(out / "scores")) == len(corpus_path.read_text().splitlines())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["verifier_stack"] == recorded


def hidden_worker(dask_cluster, hidden: Path) -> None:
    """A ``dask worker`` in a mount namespace of its own, where ``hidden`` is an empty folder
    of its own: it does not see this machine's files there, as a worker on another machine
    would not."""
    dask = str(Path(sys.executable).with_name("dask"))
    dask_cluster.processes.append(
        subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs none {hidden} && exec {dask} worker {dask_cluster.address} "
             "--nthreads 1 --host 127.0.0.1 --no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    )  # fmt: skip
    with Client(dask_cluster.address) as client:
        client.wait_for_workers(1, timeout=60)


def test_workers_that_do_not_see_the_clients_files_stop_the_run_in_one_line(
    dask_cluster, config, tmp_path, monkeypatch
):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rows = write_jsonl(inputs / "rows.jsonl", [{"ground_truth": "1", "response": "1"}] * 4)
    address = dask_cluster.start_scheduler()
    hidden_worker(dask_cluster, tmp_path)  # sees neither the inputs nor the output folder
    monkeypatch.chdir(tmp_path)

    run = finished("score", str(rows), "--config", str(config), "--output", "relative-out",
                   "--scheduler", address)  # fmt: skip

    assert run.returncode == 2
    last = run.stderr.splitlines()[-1]
    assert re.fullmatch(
        rf"rollscore: error: worker tcp://127\.0\.0\.1:\d+ does not see the output folder "
        rf"{tmp_path / 'relative-out'} this machine writes: the workers need a file system "
        r"they share with this machine, or an fsspec URL such as s3://",
        last,
    ), last
    assert not (tmp_path / "relative-out" / "scores").exists()


def test_a_worker_that_sees_the_output_but_not_an_input_names_the_input(
    dask_cluster, config, tmp_path
):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rows = write_jsonl(inputs / "rows.jsonl", [{"ground_truth": "1", "response": "1"}] * 4)
    address = dask_cluster.start_scheduler()
    hidden_worker(dask_cluster, inputs)

    run = finished("score", str(rows), "--config", str(config), "--output",
                   str(tmp_path / "out"), "--scheduler", address)  # fmt: skip

    assert run.returncode == 2
    assert re.search(
        rf"worker tcp://127\.0\.0\.1:\d+ cannot read the input {rows}, which exists here",
        run.stderr.splitlines()[-1],
    ), run.stderr


def test_overwrite_removes_only_what_the_earlier_run_wrote(config, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {"id": index, "ground_truth": "1", "response": "<answer>1</answer>"} for index in range(60)
    ]
    write_jsonl(data / "rows.jsonl", rows)
    out = data / "scored"  # inside the input folder
    command = ["score", str(data), "--config", str(config), "--output", str(out)]
    assert finished(*command).returncode == 0
    (out / "scores" / "notebook.ipynb").write_text("{}")  # a user's own files in OUTDIR
    (out / "scores" / "by-hand.csv").write_text("id,reward\n")
    (out / "report.html").write_text("<p>my own notes</p>")

    again = finished(*command, "--overwrite")

    assert again.returncode == 0, again.stderr
    scored = pd.read_parquet(sorted((out / "scores").glob("part-*.parquet")))
    assert scored["id"].tolist() == list(range(60))  # the earlier output not read as input
    assert scored["error"].isna().all()
    assert (out / "scores" / "notebook.ipynb").read_text() == "{}"
    assert (out / "scores" / "by-hand.csv").exists()
    assert (out / "report.html").read_text() == "<p>my own notes</p>"

    second = finished("score", str(data), "--config", str(config), "--output", str(data / "again"))
    assert second.returncode == 0, second.stderr
    assert len(pd.read_parquet(data / "again" / "scores")) == 60
    assert f"skipped 1 rollscore output folders, never read as input: {out}" in second.stderr

    # a glob matching the rows and the outputs' parts, but not their run.json
    both = f"{data}/**/*[lt]"
    third = finished("score", both, "--config", str(config), "--output", str(tmp_path / "third"))
    assert third.returncode == 0, third.stderr
    assert len(pd.read_parquet(tmp_path / "third" / "scores")) == 60
    assert f"skipped 2 rollscore output folders, never read as input: {data / 'again'}, {out}" in (
        third.stderr
    )


def test_overwrite_refuses_a_run_json_listing_files_no_run_writes_and_removes_nothing(
    config, tmp_path
):
    """--overwrite removes what the earlier run's run.json lists: an edited one must not make it
    remove anything outside the folder, nor half of the earlier results."""
    inputs = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "x"}] * 4)
    out = tmp_path / "o"
    command = ["score", str(inputs), "--config", str(config), "--output", str(out)]
    assert finished(*command, "--partition-rows", "2").returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("a user's file")
    manifest = json.loads((out / "run.json").read_text())
    earlier = sorted(path.name for path in out.rglob("*"))
    edits = {
        "../victim.txt": ["run.json", "../victim.txt"],
        "scores/../../victim.txt": ["scores/../../victim.txt"],
        "scores": ["scores"],
    }

    for listed, files in [*edits.items(), (None, "scores")]:
        (out / "run.json").write_text(json.dumps(manifest | {"files": files}))

        again = finished(*command, "--overwrite")

        why = (
            f"lists {listed!r}, which no rollscore run writes"
            if listed
            else "lists its files as 'scores', not as a list"
        )
        assert again.returncode == 2
        assert again.stderr.splitlines()[-1] == (
            f"rollscore: error: output {out} holds a run.json that {why}: remove the earlier "
            "run's files yourself, or use a new folder"
        )
        assert victim.read_text() == "a user's file"
        assert sorted(path.name for path in out.rglob("*")) == earlier


def test_a_run_json_that_is_not_a_runs_is_refused_in_one_line(config, tmp_path):
    inputs = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "x"}])
    out = tmp_path / "o"
    command = ["score", str(inputs), "--config", str(config), "--output", str(out)]
    assert finished(*command).returncode == 0
    (out / "run.json").write_text('"files"')

    for flag in ("--overwrite", "--resume"):
        again = finished(*command, flag)
        assert again.returncode == 2
        assert again.stderr.splitlines()[-1] == (
            f"rollscore: error: output {out} holds a run.json that is not a rollscore run's: "
            "remove it yourself, or use a new folder"
        )


def test_a_users_own_run_json_is_not_taken_for_a_runs_and_nothing_is_removed(config, tmp_path):
    """A folder of the user's experiment notes may hold a run.json of its own, even one that
    lists files: --overwrite replaces only a rollscore run, so it removes nothing there."""
    inputs = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "x"}])
    out = tmp_path / "experiment"
    out.mkdir()
    own = {
        "run.json": json.dumps({"name": "exp1", "files": ["run.json", "metrics.json"]}),
        "metrics.json": '{"accuracy": 0.9}',
        "notes.txt": "baseline",
    }
    for name, text in own.items():
        (out / name).write_text(text)

    for flag in ("--overwrite", "--resume"):
        again = finished("score", str(inputs), "--config", str(config), "--output", str(out), flag)
        assert again.returncode == 2
        assert again.stderr.splitlines()[-1] == (
            f"rollscore: error: output {out} holds a run.json that is not a rollscore run's: "
            "remove it yourself, or use a new folder"
        )
    assert {path.name: path.read_text() for path in out.iterdir()} == {
        **own,
        ".rollscore.lock": (out / ".rollscore.lock").read_text(),
    }


def damage(part: Path, how: str) -> None:
    """Damage a part file by hand: cut short, emptied, its first pages zeroed (footer intact),
    or rewritten without its ``correct`` column."""
    data = part.read_bytes()
    if how == "column":
        pq.write_table(pq.read_table(part).drop_columns(["correct"]), part)
    else:
        cut = {"cut": data[:500], "zeroed": data[:8] + bytes(392) + data[400:], "emptied": b""}
        part.write_bytes(cut[how])


def test_parts_damaged_by_hand_are_scored_again_on_resume_and_named_by_metrics(config, tmp_path):
    rows = [
        {"id": index, "ground_truth": "1", "response": "<answer>1</answer>"} for index in range(10)
    ]
    inputs = write_jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "o"
    command = ["score", str(inputs), "--config", str(config), "--output", str(out)]
    assert finished(*command, "--partition-rows", "2").returncode == 0
    parts = sorted((out / "scores").iterdir())
    for part, how in zip(parts, ["cut", "emptied", "zeroed", "column"]):
        damage(part, how)
    untouched = parts[4].stat().st_mtime_ns

    metrics = finished("metrics", str(out))
    assert metrics.returncode == 2
    last = metrics.stderr.splitlines()[-1]
    assert last.startswith("rollscore: error: ") and "Traceback" not in metrics.stderr
    assert any(part.name in last for part in parts[:4])  # whichever was read first, named

    again = finished(*command, "--resume")
    assert again.returncode == 0, again.stderr
    scored = pd.read_parquet(out / "scores")
    assert scored["id"].tolist() == list(range(10)) and scored["reward"].tolist() == [RIGHT] * 10
    assert parts[4].stat().st_mtime_ns == untouched  # a whole part is kept as written


def test_metrics_of_parts_holding_no_rows_are_zeros(config, tmp_path):
    """Parts rewritten by hand to hold no row (a filter that kept none, say) are a dataset of
    no rows: its metrics count none, in one run of the command."""
    inputs = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "x"}] * 4)
    out = tmp_path / "o"
    run = finished("score", str(inputs), "--config", str(config), "--output", str(out),
                   "--partition-rows", "2")  # fmt: skip
    assert run.returncode == 0, run.stderr
    for part in (out / "scores").iterdir():
        pq.write_table(pq.read_table(part).slice(0, 0), part)

    metrics = finished("metrics", str(out))

    assert metrics.returncode == 0, metrics.stderr
    figures = json.loads((out / "metrics.json").read_text())
    assert (figures["rows"], figures["accuracy"], figures["by_data_source"]) == (0, None, {})


def test_parts_copied_from_another_partition_or_run_are_scored_again_on_resume(config, tmp_path):
    rows = [
        {"id": index, "ground_truth": str(index), "response": f"<answer>{index}</answer>"}
        for index in range(8)
    ]
    inputs = write_jsonl(tmp_path / "rows.jsonl", rows)
    elsewhere = write_jsonl(tmp_path / "turned.jsonl", rows[4:] + rows[:4])
    runs = {}
    for name, rollouts in [("o", inputs), ("other", elsewhere)]:
        runs[name] = tmp_path / name
        command = ["score", str(rollouts), "--config", str(config), "--output", str(runs[name])]
        assert finished(*command, "--partition-rows", "2").returncode == 0
    parts = sorted((runs["o"] / "scores").iterdir())
    # the same rows in another partition, and a part of another run, each a whole valid part
    parts[2].write_bytes(parts[0].read_bytes())
    parts[1].write_bytes((runs["other"] / "scores" / parts[1].name).read_bytes())
    untouched = parts[3].stat().st_mtime_ns

    command = ["score", str(inputs), "--config", str(config), "--output", str(runs["o"])]
    again = finished(*command, "--resume")

    assert again.returncode == 0, again.stderr
    scored = pd.read_parquet(runs["o"] / "scores")
    assert scored["id"].tolist() == list(range(8)) and scored["reward"].tolist() == [RIGHT] * 8
    assert json.loads((runs["o"] / "metrics.json").read_text())["rows"] == 8
    assert parts[3].stat().st_mtime_ns == untouched


def test_a_run_resumes_with_its_inputs_spelled_another_way_but_not_with_others(config, tmp_path):
    rows = [
        {"id": index, "ground_truth": str(index), "response": f"<answer>{index}</answer>"}
        for index in range(4)
    ]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    write_jsonl(tmp_path / "other.jsonl", rows)
    command = ["--config", str(config), "--output", "o"]
    first = finished("score", "rows.jsonl", *command, "--partition-rows", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "o" / "scores" / "part-00001.parquet").unlink()

    refused = finished("score", "other.jsonl", *command, "--resume", cwd=tmp_path)
    again = finished("score", "./rows.jsonl", *command, "--resume", cwd=tmp_path)

    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1] == (
        f"rollscore: error: cannot resume {tmp_path / 'o'}: it was started with ['rows.jsonl']"
    )
    assert again.returncode == 0, again.stderr
    assert pd.read_parquet(tmp_path / "o" / "scores")["id"].tolist() == list(range(4))


def test_a_folder_that_gained_a_file_since_its_run_started_is_not_resumed_without_it(
    config, tmp_path
):
    """Resuming finishes the files a run planned; a file added to its input folder since would
    be left out unscored, so the resume is refused in one line, naming it."""
    folder = tmp_path / "rollouts"
    folder.mkdir()
    rows = [{"id": index, "ground_truth": "1", "response": "x"} for index in range(4)]
    write_jsonl(folder / "a.jsonl", rows)
    command = ["score", str(folder), "--config", str(config), "--output", str(tmp_path / "o")]
    assert finished(*command, "--partition-rows", "2").returncode == 0
    (tmp_path / "o" / "scores" / "part-00001.parquet").unlink()  # as an interrupted run left it
    write_jsonl(folder / "b.jsonl", rows)

    resumed = finished(*command, "--resume")

    assert resumed.returncode == 2
    assert resumed.stderr.splitlines()[-1] == (
        f"rollscore: error: cannot resume {tmp_path / 'o'}: its inputs now hold 1 files it did "
        f"not plan ({folder / 'b.jsonl'}); start again with --overwrite"
    )
    assert not (tmp_path / "o" / "scores" / "part-00001.parquet").exists()


def test_a_part_file_that_is_no_part_of_the_run_is_refused_and_nothing_removed(config, tmp_path):
    inputs = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "x"}] * 4)
    out = tmp_path / "o"
    command = ["score", str(inputs), "--config", str(config), "--output", str(out)]
    assert finished(*command, "--partition-rows", "2").returncode == 0
    scores = out / "scores"
    (scores / "part-00007.parquet").write_bytes((scores / "part-00000.parquet").read_bytes())
    earlier = sorted(path.name for path in out.rglob("*"))

    for flag, why in [
        ("--resume", "is not one of its run's 2 parts"),
        ("--overwrite", "its run.json does not list"),
    ]:
        again = finished(*command, flag)

        assert again.returncode == 2
        assert again.stderr.splitlines()[-1] == (
            f"rollscore: error: output {out} holds scores/part-00007.parquet, which {why}: "
            "remove it, or use a new folder"
        )
        assert sorted(path.name for path in out.rglob("*")) == earlier


def test_a_run_that_wrote_its_report_is_overwritten_and_resumed_with_it(config, tmp_path):
    inputs = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "x"}] * 4)
    out = tmp_path / "o"
    command = ["score", str(inputs), "--config", str(config), "--output", str(out)]
    assert finished(*command, "--report").returncode == 0
    (out / "metrics.json").unlink()  # as if interrupted before its end

    resumed = finished(*command, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "report.html" in json.loads((out / "run.json").read_text())["files"]

    again = finished(*command, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert not (out / "report.html").exists()  # the earlier run's own, replaced


def test_a_report_written_before_a_run_finished_is_written_again_when_it_resumes(config, tmp_path):
    """A user who looks at an interrupted run's report (``rollscore report``) and then resumes
    it gets the report of the whole run, not one that counts the rows scored before."""
    inputs = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "x"}] * 10)
    out = tmp_path / "o"
    command = ["score", str(inputs), "--config", str(config), "--output", str(out)]
    assert finished(*command, "--partition-rows", "2").returncode == 0
    for index in (1, 3):  # as an interrupted run leaves it
        (out / "scores" / f"part-0000{index}.parquet").unlink()
    assert finished("report", str(out)).returncode == 0
    assert "6 scored rows" in (out / "report.html").read_text()

    resumed = finished(*command, "--resume")

    assert resumed.returncode == 0, resumed.stderr
    assert f"report written to {out / 'report.html'}" in resumed.stdout
    assert "10 scored rows" in (out / "report.html").read_text()


def test_the_report_of_a_results_folder_nobody_can_write_is_written_elsewhere(config, tmp_path):
    """Results on read-only storage (a shared, immutable folder) can be reported into a file of
    one's own: the lock that keeps a run from changing the folder meanwhile is not needed."""
    inputs = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "x"}] * 3)
    out = tmp_path / "shared"
    assert (
        finished("score", str(inputs), "--config", str(config), "--output", str(out)).returncode
        == 0
    )
    (out / ".rollscore.lock").unlink()  # as results copied to the shared folder have none
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i (an immutable folder) is not available here")
    try:
        page = tmp_path / "mine.html"
        done = finished("report", str(out), "--output", str(page), "--workers", "1")
        in_place = finished("report", str(out), "--workers", "1")
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)

    assert done.returncode == 0, done.stderr
    assert "3 scored rows" in page.read_text()
    assert in_place.returncode == 2  # into the folder itself: one line, it cannot be written
    assert in_place.stderr.splitlines()[-1].startswith("rollscore: error: ")
    assert "Traceback" not in in_place.stderr


def test_overwrite_keeps_the_earlier_results_when_the_new_run_cannot_start(config, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [{"ground_truth": "1", "response": "1"}] * 3)
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n")
    out = tmp_path / "out"
    assert (
        finished("score", str(good), "--config", str(config), "--output", str(out)).returncode == 0
    )
    before = sorted(path.name for path in out.rglob("*"))

    failed = finished("score", str(blank), "--config", str(config), "--output", str(out),
                      "--overwrite")  # fmt: skip

    assert failed.returncode == 2
    assert sorted(path.name for path in out.rglob("*")) == before


def test_a_folder_that_is_not_a_rollscore_output_is_refused_in_one_line(config, tmp_path):
    rows = write_jsonl(tmp_path / "rows.jsonl", [{"ground_truth": "1", "response": "1"}])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("\\section{Results}")

    for more in ([], ["--overwrite"]):
        run = finished("score", str(rows), "--config", str(config), "--output", str(mine), *more)

        assert run.returncode == 2
        assert run.stderr.splitlines()[-1] == (
            f"rollscore: error: output {mine} is not empty and holds no rollscore run "
            "(run.json): use an empty or new folder"
        )
    assert sorted(path.name for path in mine.iterdir()) == [".rollscore.lock", "thesis.tex"]


def peak_memory(process: subprocess.Popen) -> tuple[int, int]:
    """Sample a process tree until it ends: the largest resident memory of one of its
    processes, and of the whole tree, in bytes."""
    root = psutil.Process(process.pid)
    largest = total = 0
    while process.poll() is None:
        sizes = []
        for member in [root, *root.children(recursive=True)]:
            try:
                sizes.append(member.memory_info().rss)
            except psutil.Error:
                continue
        largest, total = max(largest, *sizes, 0), max(total, sum(sizes))
        time.sleep(0.02)
    return largest, total


def test_memory_follows_the_data_not_its_longest_string(tmp_path):
    config = tmp_path / "exact.yaml"
    config.write_text("reward_functions:\n  - {name: exact_alnum, weight: 1.0}\n")
    rows = [
        {"ground_truth": "A", "response": f"<answer>{'AB'[i % 2]}</answer>"} for i in range(199)
    ]
    rows.insert(100, {"ground_truth": "A", "response": "<answer>" + "7" * 30_000_000 + "</answer>"})
    inputs = write_jsonl(tmp_path / "huge.jsonl", rows)  # 30 MB: scored by worker processes

    run = rollscore("score", str(inputs), "--config", str(config), "--output", str(tmp_path / "o"))
    largest, total = peak_memory(run)
    _, stderr = run.communicate(timeout=60)

    assert run.returncode == 0, stderr
    scored = pd.read_parquet(tmp_path / "o" / "scores")
    assert len(scored) == 200 and len(scored["extracted_answer"][100]) == 30_000_000
    # a fixed-width array of 200 answers as wide as the longest would be 24 GB
    assert largest < 1.5 * 2**30, f"one process reached {largest / 2**30:.2f} GiB"
    assert total < 3 * 2**30, f"the process tree reached {total / 2**30:.2f} GiB"


INTRUDER = """
import sys
from distributed import Client, Security
address, how = sys.argv[1:]
attempt, security = {
    "tls": (address, None),  # TLS without credentials
    "own-credentials": (address, Security.temporary()),  # TLS with credentials of its own
    "tcp": (address.replace("tls://", "tcp://"), None),  # plain TCP
}[how]
try:
    with Client(attempt, security=security, timeout="5s") as client:
        print("ran", client.run(lambda: "code in a worker"))
except Exception as error:
    print("refused", type(error).__name__)
"""
"""Another process's attempt to run code in a cluster's workers, one way per process: a client
that failed to connect can hang the next one when it is collected while that one starts."""


def test_another_local_process_cannot_run_code_in_rollscores_workers(tmp_path):
    from rollscore.env import VLMEnvironment

    config = {"num_workers": 1, "reward_functions": [{"name": "format", "weight": 1.0}]}
    with VLMEnvironment(config) as environment:
        address = environment.client.scheduler.address
        workers = list(environment.client.scheduler_info()["workers"])
        intruders = [
            subprocess.run(
                [sys.executable, "-c", INTRUDER, address, how],
                capture_output=True,
                text=True,
                timeout=120,
            )
            for how in ("tls", "own-credentials", "tcp")
        ]
        step = environment.step(
            [[{"role": "assistant", "content": "<answer>a</answer>"}]], [{"ground_truth": "a"}]
        )

    assert address.startswith("tls://127.0.0.1:")
    assert all(worker.startswith("tls://127.0.0.1:") for worker in workers)
    for intruder in intruders:
        assert intruder.stdout.startswith("refused"), intruder
    assert step.rewards.tolist() == [0.75]  # its own client still scores


TRAINER = """
from rollscore.env import VLMEnvironment
CONFIG = {"num_workers": 1, "reward_functions": [{"name": "format", "weight": 0.2},
                                                  {"name": "math_expr", "weight": 0.8}]}
if __name__ == "__main__":
    conversations = [
        [{"role": "assistant", "content": f"<think>t</think><answer>{i % 50}/{i % 7 + 1}</answer>"}]
        for i in range(500)
    ]
    metadata = [{"ground_truth": str(i % 13)} for i in range(500)]
    environment = VLMEnvironment(CONFIG)
    steps = [environment.step_async(conversations, metadata) for _ in range(4)]
    environment.shutdown()
    print(sum(len(step.result().rewards) for step in steps))
"""


@pytest.mark.slow  # 2,000 rows scored on a quarter of one core
def test_a_session_with_steps_in_flight_shuts_down_quietly_on_a_busy_machine(tmp_path):
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    one_core = ["taskset", "--cpu-list", "0"]  # a busy machine: three loops share its core
    busy = [
        subprocess.Popen([*one_core, sys.executable, "-c", "while True: pass"]) for _ in range(3)
    ]
    try:
        run = subprocess.run(
            [*one_core, sys.executable, str(script)], capture_output=True, text=True, timeout=300
        )
    finally:
        for process in busy:
            process.kill()

    assert run.returncode == 0, run.stderr
    assert run.stdout == "2000\n"
    assert "still alive" not in run.stderr and "killing" not in run.stderr, run.stderr
