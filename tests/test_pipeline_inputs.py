"""Finding input files, planning row-sized blocks, and reading them back exactly."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import InputError
from pipeline.inputs import InputPlan, discover_inputs, plan_inputs, read_block
from pipeline.inputs.jsonl import scan_jsonl
from pipeline.inputs.parquet import read_parquet_rows
from pipeline.partition import READ_ERROR, READ_ERROR_KIND


def write_jsonl(path, rows: list[object]) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def values(column: pd.Series) -> list[object]:
    return [None if pd.isna(value) else value for value in column.tolist()]


def test_files_globs_and_folders_expand_to_the_rollout_files_in_them(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "b.parquet").write_bytes(b"")
    (tmp_path / "part" / "_SUCCESS").write_text("")
    (tmp_path / "part" / ".hidden.jsonl").write_text("")

    found = discover_inputs(
        [str(tmp_path / "a.jsonl"), str(tmp_path / "part"), str(tmp_path / "*.jsonl")]
    )

    assert [(file.url, file.kind) for file in found] == [
        (str(tmp_path / "a.jsonl"), "jsonl"),
        (str(tmp_path / "part" / "b.parquet"), "parquet"),
        (str(tmp_path / "a.jsonl"), "jsonl"),
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.jsonl", "no such file or directory"),
        ("*.parquet", "no .json, .jsonl, .ndjson, .parquet files found"),
        ("notes.txt", "unknown format"),
    ],
)
def test_an_input_that_names_nothing_readable_is_an_input_error(tmp_path, name, message):
    (tmp_path / "notes.txt").write_text("hello")

    with pytest.raises(InputError, match=message):
        discover_inputs([str(tmp_path / name)])


def test_a_jsonl_scan_records_every_keys_types_and_the_line_offsets(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"a": 1, "b": "x"}, {"a": 2.5, "c": [1]}, "not json", {"a": None}])

    scan = scan_jsonl(str(path), granularity=2)

    assert scan.lines == 4
    first, second = path.read_bytes().split(b"\n")[:2]
    assert scan.line_offsets == [0, len(first) + len(second) + 2]
    assert scan.types == {"a": {"int", "float", "null"}, "b": {"str"}, "c": {"list"}}


@pytest.mark.slow
def test_jsonl_blocks_keep_types_turn_other_json_into_text_and_name_bad_lines(tmp_path, client):
    path = tmp_path / "r.jsonl"
    write_jsonl(
        path,
        [
            {
                "id": 1,
                "ground_truth": 42,
                "response": "<answer>42</answer>",
                "is_end": True,
                "step": 3,
            },
            "",
            '{"id": 2, "ground_truth": "7", "response": "<ans',
            {"id": 3, "ground_truth": [0, 0, 1, 1], "response": 5, "is_end": False, "step": 4.5},
            '["a list", "not an object"]',
            {"id": 4, "ground_truth": "x", "message_log": [{"role": "assistant", "content": "hi"}]},
        ],
    )

    plan = plan_inputs(discover_inputs([str(path)]), client, partition_rows=3, workers=2)
    frames = [read_block(block, plan.schema) for block in plan.blocks]

    assert [(b.first_line, b.rows) for b in plan.blocks] == [(1, 3), (4, 3)]
    frame = pd.concat(frames, ignore_index=True)
    assert values(frame["id"]) == [1, None, 3, None, 4]
    assert values(frame["ground_truth"]) == ["42", None, "[0, 0, 1, 1]", None, "x"]
    assert values(frame["response"]) == ["<answer>42</answer>", None, None, None, None]
    assert values(frame["step"]) == [3.0, None, 4.5, None, None]
    assert values(frame["is_end"]) == [True, None, False, None, None]
    assert values(frame["message_log"])[4] == '[{"role": "assistant", "content": "hi"}]'
    errors = values(frame[READ_ERROR])
    assert errors[0] is None and errors[4] is None
    assert errors[1].startswith(f"{path} line 3 is not valid JSON")
    assert errors[2] == "response is int, not a string"
    assert errors[3] == f"{path} line 5 is not a JSON object"
    assert values(frame[READ_ERROR_KIND]) == [
        None,
        "unreadable_row",
        "bad_input",
        "unreadable_row",
        None,
    ]


def test_parquet_row_ranges_read_only_their_rows_across_row_groups(tmp_path):
    path = tmp_path / "r.parquet"
    table = pa.table({"id": list(range(10)), "ground_truth": [str(i) for i in range(10)]})
    pq.write_table(table, path, row_group_size=3)
    schema = pa.schema(
        [("id", pa.int64()), ("ground_truth", pa.string()), ("response", pa.string())]
    )

    frame = read_parquet_rows(str(path), 2, 8, schema)

    assert frame["id"].tolist() == [2, 3, 4, 5, 6, 7]
    assert values(frame["response"]) == [None] * 6


@pytest.mark.slow
def test_a_plan_round_trips_through_json_so_a_run_can_resume_it(tmp_path, client):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"ground_truth": "1", "response": "r"}] * 5)
    plan = plan_inputs(discover_inputs([str(path)]), client, partition_rows=2, workers=1)

    again = InputPlan.from_json(json.loads(json.dumps(plan.to_json())))

    assert again.blocks == plan.blocks and again.schema == plan.schema
    assert [block.rows for block in plan.blocks] == [2, 2, 1]


@pytest.mark.slow
def test_jsonl_and_parquet_inputs_share_one_schema(tmp_path, client):
    write_jsonl(tmp_path / "a.jsonl", [{"ground_truth": "1", "response": "r", "extra": "e"}])
    pq.write_table(
        pa.table({"ground_truth": ["2"], "response": ["s"], "score": [0.5]}), tmp_path / "b.parquet"
    )

    plan = plan_inputs(discover_inputs([str(tmp_path)]), client, partition_rows=None, workers=2)
    frame = pd.concat([read_block(block, plan.schema) for block in plan.blocks], ignore_index=True)

    assert values(frame["extra"]) == ["e", None]
    assert values(frame["score"]) == [None, 0.5]


@pytest.mark.slow
def test_an_empty_input_is_an_input_error(tmp_path, client):
    (tmp_path / "empty.jsonl").write_text("")

    with pytest.raises(InputError, match="no rows"):
        plan_inputs(discover_inputs([str(tmp_path / "empty.jsonl")]), client, None, 2)
