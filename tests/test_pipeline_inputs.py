"""Finding input files, planning row-sized blocks, and reading them back exactly."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import math
import os
import random

import fsspec.compression
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rollscore.pipeline.errors import InputChanged, InputError
from rollscore.pipeline.inputs import Block, InputPlan, discover_inputs, plan_inputs, read_block
from rollscore.pipeline.inputs.columns import (
    EXTRA_COLUMN,
    MAX_EXTRA_COLUMNS,
    without_lone_surrogates,
)
from rollscore.pipeline.inputs.jsonl import block_digest, json_kind, scan_range, scan_whole
from rollscore.pipeline.inputs.parquet import parquet_footer, read_parquet_rows
from rollscore.pipeline.inputs.plan import (
    DEFAULT_PARTITION_ROWS,
    LARGE_PARTITION_ROWS,
    MIN_PARTITION_ROWS,
    auto_partition_rows,
    json_schema,
)
from rollscore.pipeline.kernel import input_problems


def write_jsonl(path, rows: list[object]) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def values(column: pd.Series) -> list[object]:
    return [None if pd.isna(value) else value for value in column.tolist()]


def errors(frame: pd.DataFrame) -> list[str | None]:
    """Why the reader could not read each row (None where it could)."""
    return [None if problem is None else problem.message for problem in input_problems(frame)]


def error_kinds(frame: pd.DataFrame) -> list[str | None]:
    return [None if problem is None else problem.kind.value for problem in input_problems(frame)]


@pytest.mark.parametrize("workers", [1, 2, 8])
def test_partitions_grow_with_the_input_while_every_worker_keeps_several(workers):
    for total in [1, 27, 300, 4_000, 64_000, 256_000, 1_000_000, 10_000_000]:
        rows = auto_partition_rows(total, workers)
        per_worker = math.ceil(total / rows) / workers

        assert MIN_PARTITION_ROWS <= rows <= LARGE_PARTITION_ROWS
        if rows > MIN_PARTITION_ROWS:
            assert per_worker >= (4 if rows <= DEFAULT_PARTITION_ROWS else 32)
    assert [auto_partition_rows(total, 2) for total in (4_000, 64_000, 256_000, 10**6)] == [
        500,
        2_000,
        4_000,
        8_000,
    ]


def test_files_globs_and_folders_expand_to_the_rollout_files_in_them(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "b.parquet").write_bytes(b"")
    (tmp_path / "part" / "_SUCCESS").write_text("")
    (tmp_path / "part" / ".hidden.jsonl").write_text("")

    found = discover_inputs(
        [str(tmp_path / "a.jsonl"), str(tmp_path / "part"), str(tmp_path / "*.jsonl")]
    )

    assert [(file.url, file.kind) for file in found.files] == [
        (str(tmp_path / "a.jsonl"), "json"),
        (str(tmp_path / "part" / "b.parquet"), "parquet"),
    ]
    assert found.repeated == [str(tmp_path / "a.jsonl")]  # the glob names it again
    assert found.skipped == [str(tmp_path / "part" / "_SUCCESS")]  # named; hidden ones are not


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.jsonl", "no such file or directory"),
        ("*.parquet", "or .parquet files found"),
        ("notes.txt", "unknown format"),
    ],
)
def test_an_input_that_names_nothing_readable_is_an_input_error(tmp_path, name, message):
    (tmp_path / "notes.txt").write_text("hello")

    with pytest.raises(InputError, match=message):
        discover_inputs([str(tmp_path / name)])


def test_an_empty_input_name_is_an_input_error_not_the_current_folder(tmp_path, monkeypatch):
    """A script's empty $INPUT must not score whatever the current folder holds."""
    write_jsonl(tmp_path / "a.jsonl", [{"ground_truth": "1", "response": "r"}])
    monkeypatch.chdir(tmp_path)

    with pytest.raises(InputError, match=r"^an input is empty: name a file, folder or glob$"):
        discover_inputs([str(tmp_path / "a.jsonl"), ""])


def test_a_jsonl_scan_records_every_keys_types_and_the_line_offsets(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"a": 1, "b": "x"}, {"a": 2.5, "c": [1]}, "not json", {"a": None}])

    scan = scan_range(str(path), 0, path.stat().st_size, granularity=2)

    assert scan.lines == 4
    first, second = path.read_bytes().split(b"\n")[:2]
    assert scan.offsets == [0, len(first) + len(second) + 2]
    assert scan.types == {"a": {"int", "float", "null"}, "b": {"str"}, "c": {"list"}}
    assert scan.key_counts == {"a": 3, "b": 1, "c": 1}
    assert len(scan.chunk_digests) == 2


def test_byte_ranges_own_the_lines_that_start_in_them_whatever_the_cut(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"n": index, "pad": "x" * (index % 7)} for index in range(40)])
    data = path.read_bytes()
    ends = [index + 1 for index, byte in enumerate(data) if byte == ord("\n")]
    starts = [0, *ends[:-1]]

    for cut in range(1, len(data)):  # every cut point, inside lines and on their ends
        first = scan_range(str(path), 0, cut, granularity=1)
        second = scan_range(str(path), cut, len(data), granularity=1)

        assert first.lines + second.lines == 40
        assert first.offsets + second.offsets == starts
        assert first.stop == second.start


def test_every_range_of_lines_reads_back_as_its_scan_planned_it(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [json.dumps({"n": index, "pad": "é" * (index % 5)}) for index in range(12)]
    lines[3], lines[7] = "", "  "  # blank lines are no rows
    path.write_bytes("\n".join(lines[:6]).encode() + b"\r\n" + "\n".join(lines[6:]).encode())
    data = path.read_bytes()  # CRLF once, and no newline after the last line
    schema = pa.schema([("n", pa.int64()), ("pad", pa.string())])

    for granularity in (1, 2, 5):
        for cut in range(1, len(data)):
            numbers = []
            for start, stop in ((0, cut), (cut, len(data))):
                scan = scan_range(str(path), start, stop, granularity)
                if not scan.lines:
                    continue
                block = Block(
                    str(path), "jsonl", None, scan.start, scan.stop, 1, scan.rows,
                    block_digest(scan.chunk_digests), granularity,
                )  # fmt: skip
                numbers += read_block(block, schema)["n"].tolist()
            assert numbers == [0, 1, 2, 4, 5, 6, 8, 9, 10, 11]


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

    plan = plan_inputs(discover_inputs([str(path)]).files, client, partition_rows=3, workers=2)
    frames = [read_block(block, plan.schema) for block in plan.blocks]

    assert [(b.first_line, b.rows) for b in plan.blocks] == [(1, 2), (4, 3)]  # line 2 is blank
    frame = pd.concat(frames, ignore_index=True)
    assert values(frame["id"]) == [1, None, 3, None, 4]
    assert values(frame["ground_truth"]) == ["42", None, "[0, 0, 1, 1]", None, "x"]
    assert values(frame["response"]) == ["<answer>42</answer>", None, None, None, None]
    assert values(frame["step"]) == [3.0, None, 4.5, None, None]
    assert values(frame["is_end"]) == [True, None, False, None, None]
    assert values(frame["message_log"])[4] == '[{"role": "assistant", "content": "hi"}]'
    found = errors(frame)
    assert found[0] is None and found[4] is None
    assert found[1].startswith(f"{path} line 3 is not valid JSON")
    assert found[2] == "response is int, not a string"
    assert found[3] == f"{path} line 5 is not a JSON object"
    assert error_kinds(frame) == [
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

    _, _, digest = parquet_footer(str(path))
    block = Block(str(path), "parquet", None, 2, 8, 0, 6, digest)

    frame = read_parquet_rows(block, schema)

    assert frame["id"].tolist() == [2, 3, 4, 5, 6, 7]
    assert values(frame["response"]) == [None] * 6


def unchecked_text(data: list[bytes], arrow_type: pa.DataType) -> pa.Array:
    """Bytes as an Arrow text array, unchecked, as a Parquet writer that does not check UTF-8
    leaves them."""
    raw = pa.array(data, pa.large_binary() if arrow_type == pa.large_string() else pa.binary())
    return pa.Array.from_buffers(arrow_type, len(raw), raw.buffers())


def test_parquet_text_that_is_not_valid_utf8_is_a_bad_row_and_the_others_are_read(tmp_path):
    path = tmp_path / "r.parquet"
    cut, surrogate = b"cut \xf0\x9f", b"\xed\xa0\x80"
    table = pa.table(
        {
            "ground_truth": ["1"] * 6,
            "response": unchecked_text([b"a", b"b", cut, b"d", b"e", b"f"], pa.string()),
            "note": unchecked_text([b"n", b"n", b"n", b"n", surrogate, b"n"], pa.large_string()),
            "tags": pa.ListArray.from_arrays(
                pa.array(range(7), pa.int32()),
                unchecked_text([b"t", b"\xff", b"t", b"t", b"t", b"t"], pa.string()),
            ),
            "choice": pa.DictionaryArray.from_arrays(  # its bad entry only in a row not read
                pa.array([1, 0, 0, 0, 0, 0], pa.int32()),
                unchecked_text([b"ok", b"\xff"], pa.string()),
            ),
        }
    )
    pq.write_table(table, path)
    _, file_schema, digest = parquet_footer(str(path))

    frame = read_parquet_rows(Block(str(path), "parquet", None, 1, 6, 0, 5, digest), file_schema)

    replaced = [text.decode("utf-8", "replace") for text in (cut, surrogate)]
    assert values(frame["response"]) == ["b", replaced[0], "d", "e", "f"]
    assert values(frame["note"]) == ["n", "n", "n", replaced[1], "n"]
    assert values(frame["choice"]) == ["ok"] * 5
    assert [None if tags is pd.NA else list(tags) for tags in frame["tags"].tolist()] == [
        None, ["t"], ["t"], ["t"], ["t"]
    ]  # fmt: skip
    assert errors(frame) == [
        f"{path} row 2 holds text that is not valid UTF-8 in tags (left out)",
        f"{path} row 3 holds text that is not valid UTF-8 in response (replaced by U+FFFD)",
        None,
        f"{path} row 5 holds text that is not valid UTF-8 in note (replaced by U+FFFD)",
        None,
    ]
    assert error_kinds(frame) == ["unreadable_row", "unreadable_row", None, "unreadable_row", None]


@pytest.mark.slow
def test_a_plan_round_trips_through_json_so_a_run_can_resume_it(tmp_path, client):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"ground_truth": "1", "response": "r"}] * 5)
    plan = plan_inputs(discover_inputs([str(path)]).files, client, partition_rows=2, workers=1)

    again = InputPlan.from_json(json.loads(json.dumps(plan.to_json())))

    assert again.blocks == plan.blocks and again.schema == plan.schema
    assert again.inputs == plan.inputs
    assert [block.rows for block in plan.blocks] == [2, 2, 1]


@pytest.mark.slow
def test_jsonl_and_parquet_inputs_share_one_schema(tmp_path, client):
    write_jsonl(tmp_path / "a.jsonl", [{"ground_truth": "1", "response": "r", "extra": "e"}])
    pq.write_table(
        pa.table({"ground_truth": ["2"], "response": ["s"], "score": [0.5]}), tmp_path / "b.parquet"
    )

    plan = plan_inputs(
        discover_inputs([str(tmp_path)]).files, client, partition_rows=None, workers=2
    )
    frame = pd.concat([read_block(block, plan.schema) for block in plan.blocks], ignore_index=True)

    assert values(frame["extra"]) == ["e", None]
    assert values(frame["score"]) == [None, 0.5]


@pytest.mark.slow
def test_an_empty_input_is_an_input_error(tmp_path, client):
    (tmp_path / "empty.jsonl").write_text("")

    with pytest.raises(InputError, match="no rows"):
        plan_inputs(discover_inputs([str(tmp_path / "empty.jsonl")]).files, client, None, 2)


def read_whole(path, compression=None, array=False) -> pd.DataFrame:
    """A JSON file scanned and read back as one block, as the plan would scan and read it."""
    if compression is None and not array:  # a plain JSON-lines file, as one range and chunk
        granularity = 10**9
        scan = scan_range(str(path), 0, os.path.getsize(path), granularity)
    else:
        granularity = 1
        scan = scan_whole(str(path), compression, "json_array" if array else "jsonl")
    schema = json_schema([scan])
    kind = "json_array" if array else "jsonl"
    digest = block_digest(scan.chunk_digests)
    block = Block(str(path), kind, compression, 0, scan.stop, 1, scan.lines, digest, granularity)
    return read_block(block, schema)


def test_an_existing_path_is_taken_literally_before_it_is_read_as_a_glob(tmp_path):
    write_jsonl(tmp_path / "data[1].jsonl", [{"ground_truth": "1"}])
    write_jsonl(tmp_path / "data1.jsonl", [{"ground_truth": "other"}])

    found = discover_inputs([str(tmp_path / "data[1].jsonl")])

    assert [file.url for file in found.files] == [str(tmp_path / "data[1].jsonl")]


@pytest.mark.parametrize(
    ("suffix", "opener"),
    [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)],
    ids=["gzip", "bz2", "xz"],
)
def test_compressed_json_lines_in_a_folder_are_found_and_read(tmp_path, suffix, opener):
    rows = [{"ground_truth": str(n), "response": f"<answer>{n}</answer>"} for n in range(5)]
    with opener(tmp_path / f"rollouts.jsonl{suffix}", "wt") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "notes.md").write_text("not rollouts")

    found = discover_inputs([str(tmp_path)])
    (file,) = found.files

    assert found.skipped == [str(tmp_path / "notes.md")]
    assert file.compression == {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}[suffix]
    frame = read_whole(file.url, file.compression)
    assert values(frame["ground_truth"]) == [str(n) for n in range(5)]
    assert errors(frame) == [None] * 5


def test_a_json_file_holding_an_array_is_read_as_records(tmp_path):
    path = tmp_path / "rollouts.json"
    path.write_text(
        json.dumps(
            [
                {"ground_truth": "1", "response": "a"},
                {"ground_truth": "2", "response": "b"},
                "not a record",
            ],
            indent=2,
        )
    )

    assert json_kind(str(path), None) == "json_array"
    frame = read_whole(path, array=True)

    assert values(frame["ground_truth"]) == ["1", "2", None]
    assert errors(frame) == [None, None, f"{path} record 3 is not a JSON object"]


@pytest.mark.parametrize(
    ("tail", "read", "why"),
    [
        (
            ', {"ground_truth": "3", "resp',
            ["1", "2"],
            "Unterminated string starting at: line 1 column 104 (char 103)",
        ),
        (
            ', {"ground_truth": "3"} {"x": 1}]',
            ["1", "2", "3"],
            "Expecting ',' delimiter: line 1 column 104 (char 103)",
        ),
        ("] and more", ["1", "2"], "Extra data: line 1 column 82 (char 81)"),
    ],
    ids=["cut-short", "missing-comma", "trailing"],
)
def test_an_array_that_does_not_parse_keeps_its_records_up_to_the_damage(tmp_path, tail, read, why):
    """A JSON array cut short (a copy that stopped, say) is not one bad record: every record
    before the damage is a row, and the damage is one bad row saying what is wrong."""
    path = tmp_path / "rollouts.json"
    records = [{"ground_truth": "1", "response": "a"}, {"ground_truth": "2", "response": "b"}]
    path.write_text(json.dumps(records)[:-1] + tail)

    frame = read_whole(path, array=True)

    assert values(frame["ground_truth"]) == [*read, None]
    bad = f"{path} record {len(read) + 1} is not valid JSON ({why})"
    assert errors(frame) == [*([None] * len(read)), bad]


@pytest.mark.parametrize(
    ("name", "content", "whats_wrong"),
    [
        (
            "junk.jsonl",
            "garbage\n[1]\n",
            ["line 1 is not valid JSON (", "line 2 is not a JSON object"],
        ),
        (
            "junk.json",
            '[1, "x"]',
            ["record 1 is not a JSON object", "record 2 is not a JSON object"],
        ),
    ],
    ids=["lines", "array"],
)
def test_a_file_without_a_single_record_is_read_as_that_many_bad_rows(
    tmp_path, name, content, whats_wrong
):
    """No row holds a key, so the rows have no columns: they are still rows."""
    path = tmp_path / name
    path.write_text(content)

    frame = read_whole(path, array=name.endswith(".json"))

    assert len(frame) == 2
    assert [
        why.startswith(f"{path} {start}") for why, start in zip(errors(frame), whats_wrong)
    ] == [True, True]


def test_is_end_is_a_boolean_from_bools_zeros_ones_and_words_and_anything_else_is_bad(tmp_path):
    path = tmp_path / "r.jsonl"
    ends = [False, 0, True, 1, "true", "False", "maybe", 2, None]
    write_jsonl(path, [{"ground_truth": "1", "response": "a", "is_end": end} for end in ends])

    frame = read_whole(path)

    assert values(frame["is_end"]) == [False, False, True, True, True, False, None, None, None]
    found = errors(frame)
    assert found[6] == "is_end is 'maybe', not a boolean (true, false, 1 or 0)"
    assert found[7] == "is_end is 2, not a boolean (true, false, 1 or 0)"
    assert found[:6] == [None] * 6 and found[8] is None
    assert error_kinds(frame)[6:8] == ["bad_input", "bad_input"]


def test_thousands_of_distinct_keys_keep_a_bounded_number_of_columns(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [{"ground_truth": "1", "response": "a", "common": 7, f"key_{n}": n} for n in range(5000)]
    write_jsonl(path, rows)

    frame = read_whole(path)

    extras = [name for name in frame.columns if name.startswith("key_")]
    assert len(extras) == MAX_EXTRA_COLUMNS - 1  # "common" is the most frequent extra key
    assert values(frame["common"]) == [7] * 5000
    kept = set(extras)
    for n, extra in enumerate(values(frame[EXTRA_COLUMN])):
        if f"key_{n}" in kept:
            assert extra is None
        else:
            assert json.loads(extra) == {f"key_{n}": n}


def test_each_column_takes_the_type_its_json_values_have_across_the_lines(tmp_path):
    """Integers fit 64 bits or the column is text; integers and floats meet as floats; any
    other mix of types, or a list or an object, is each value's JSON text."""
    path = tmp_path / "r.jsonl"
    biggest, too_big = 2**63 - 1, 2**63
    columns = {
        "ints": [-(2**63), biggest, None],
        "big_ints": [1, too_big, None],
        "numbers": [1, 2.5, None],
        "flags": [True, False, None],
        "mixed": [1, "one", True],
        "lists": [[1], ["a"], None],
        "objects": [{"a": 1}, {}, None],
        "nothing": [None, None, None],
    }
    rows = [
        {"ground_truth": "1", "response": "a"} | {name: cells[n] for name, cells in columns.items()}
        for n in range(3)
    ]
    write_jsonl(path, rows)

    frame = read_whole(path)

    types = {name: frame[name].dtype.pyarrow_dtype for name in columns}
    assert types == {
        "ints": pa.int64(),
        "big_ints": pa.string(),
        "numbers": pa.float64(),
        "flags": pa.bool_(),
        "mixed": pa.string(),
        "lists": pa.string(),
        "objects": pa.string(),
        "nothing": pa.string(),
    }
    assert values(frame["ints"]) == [-(2**63), biggest, None]
    assert values(frame["big_ints"]) == ["1", str(too_big), None]
    assert values(frame["numbers"]) == [1.0, 2.5, None]
    assert values(frame["mixed"]) == ["1", "one", "true"]
    assert values(frame["lists"]) == ["[1]", '["a"]', None]
    assert values(frame["objects"]) == ['{"a": 1}', "{}", None]


def test_a_key_named_like_the_extra_column_is_carried_in_it(tmp_path):
    """A scored output exported to JSON lines and scored again holds ``extra_json`` itself."""
    path = tmp_path / "r.jsonl"
    rows = [
        {"ground_truth": "1", "response": "a", EXTRA_COLUMN: '{"note": 1}'},
        {"ground_truth": "1", "response": "a", EXTRA_COLUMN: {"note": 2}, "other": 3},
        {"ground_truth": "1", "response": "a"},
    ]
    write_jsonl(path, rows)

    frame = read_whole(path)

    assert [
        None if extra is None else json.loads(extra) for extra in values(frame[EXTRA_COLUMN])
    ] == [
        {EXTRA_COLUMN: '{"note": 1}'},
        {EXTRA_COLUMN: {"note": 2}},
        None,
    ]
    assert values(frame["other"]) == [None, 3, None]


@pytest.mark.parametrize(
    "line",
    [
        b'{"ground_truth": "1", "response": "cut off \\ud800"}',
        b'{"ground_truth": "1", "response": "cut off \\uDBFF"}',
        b'{"ground_truth": "1", "response": "cut off \xed\xa0\x80"}',
        b'{"ground_truth": "1", "response": "ok", "note": {"deep": ["\\udfff"]}}',
        '{"ground_truth": "1", "response": "cut off \ud800"}'.encode("utf-16-le", "surrogatepass"),
        '{"ground_truth": "1", "response": "cut off \udc00"}'.encode("utf-32", "surrogatepass"),
        b'{"ground_truth": "1", "response": "ok", "cut \\ud800 key": 1}',
    ],
    ids=["json-escape", "json-escape-upper", "raw-bytes", "nested", "utf-16", "utf-32", "key"],
)
def test_text_that_cannot_be_encoded_is_a_bad_row_and_the_others_are_read(tmp_path, line):
    path = tmp_path / "r.jsonl"
    fine = json.dumps({"ground_truth": "2", "response": "fine"}).encode()
    path.write_bytes(fine + b"\n" + line + b"\n" + fine + b"\n")

    frame = read_whole(path)

    assert values(frame["ground_truth"]) == ["2", "1", "2"]
    row = [list(frame.columns), values(frame.iloc[1])]
    assert "\ufffd" in json.dumps(row, ensure_ascii=False, default=str)
    assert errors(frame) == [
        None,
        f"{path} line 2 holds text that is not valid Unicode (an unpaired surrogate, "
        "replaced by U+FFFD)",
        None,
    ]
    assert error_kinds(frame) == [None, "unreadable_row", None]


def test_lines_are_flagged_for_unpaired_surrogates_exactly_as_a_full_check_of_each_finds(
    tmp_path,
):
    """The reader looks for surrogates only in lines that may hold one: over random lines of
    escapes, raw bytes and look-alikes, it flags exactly the rows a check of every parsed
    string flags."""
    pieces = [
        "a",
        "u",
        "d",
        "D",
        "\\\\",
        "\\u0064",
        "\\ud800",
        "\\uD83D",
        "\\uDc00",
        "\\udfff",
        "\\ud83d\\ude00",
        "\\u00e9",
        "\\\\ud800",
        "\\\\uD800",
        "\u00e9",
        "\U0001d49c",
        "<answer>",
    ]
    generator = random.Random(7)
    lines = []
    for _ in range(3000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 6)))
        key = "k" + "".join(generator.choice(pieces) for _ in range(generator.randint(0, 2)))
        line = '{"ground_truth": "1", "response": "' + text + '", "' + key + '": 1}'
        lines.append(line.encode("utf-8", "surrogatepass"))
    lines[::97] = [
        line.replace(b"a", "\ud800".encode("utf-8", "surrogatepass")) for line in lines[::97]
    ]
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    def replaced(line: bytes) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False  # unreadable: a row of its own error
        return without_lone_surrogates(record)[1]

    flagged = ["not valid Unicode" in (error or "") for error in errors(read_whole(path))]
    assert flagged == [replaced(line) for line in lines]
    assert 100 < sum(flagged) < len(lines) - 100


def test_a_line_nested_too_deeply_to_parse_is_a_bad_row(tmp_path):
    path = tmp_path / "r.jsonl"
    fine = json.dumps({"ground_truth": "2", "response": "fine"})
    path.write_text(fine + "\n" + "[" * 100_000 + "]" * 100_000 + "\n" + fine + "\n")

    frame = read_whole(path)

    assert values(frame["ground_truth"]) == ["2", None, "2"]
    assert errors(frame) == [None, f"{path} line 2 is nested too deeply to parse", None]


def test_reading_a_block_whose_bytes_changed_since_planning_raises(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"ground_truth": "1", "response": "aaaa"}] * 3)
    scan = scan_range(str(path), 0, path.stat().st_size, granularity=2)
    schema = json_schema([scan])
    block = Block(
        str(path), "jsonl", None, 0, scan.offsets[1], 1, 2, block_digest(scan.chunk_digests[:1]), 2
    )
    assert errors(read_block(block, schema)) == [None, None]

    path.write_bytes(path.read_bytes().replace(b"aaaa", b"bbbb", 1))  # same size, new content

    with pytest.raises(InputChanged, match=f"input {path} changed since the run was planned"):
        read_block(block, schema)


def test_zstandard_inputs_are_read_when_the_package_is_there_and_refused_clearly_if_not(tmp_path):
    path = tmp_path / "rollouts.jsonl.zst"
    rows = "".join(json.dumps({"ground_truth": str(n), "response": "r"}) + "\n" for n in range(3))
    if "zstd" not in fsspec.compression.compr:
        path.write_bytes(b"not really zstd")
        with pytest.raises(InputError, match="zstd-compressed, which needs the zstandard package"):
            discover_inputs([str(path)])
        return
    with fsspec.open(str(path), "wt", compression="zstd") as handle:
        handle.write(rows)
    (file,) = discover_inputs([str(tmp_path)]).files
    assert values(read_whole(file.url, file.compression)["ground_truth"]) == ["0", "1", "2"]
