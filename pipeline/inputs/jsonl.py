"""JSON rollouts: JSON lines, plain or compressed, and files holding one JSON array of records.

A plain JSON-lines file is scanned in parallel, a byte range per task: a range owns the lines
that start in it, and its scan records where every ``granularity``-th owned line starts, how
many lines it owns, each key's JSON types and count, and a digest of every chunk of
``granularity`` lines. A block (whole chunks) is then known by the digest of its chunks'
digests, which its reader checks on the bytes it reads anyway. A compressed file, a JSON
array, or JSON lines in UTF-16 or UTF-32 (whose line ends are not newline bytes) cannot be cut
without reading it from the start: it is scanned whole and read as one partition, a single
chunk. Scans and reads run as Dask tasks, where the data is.

A line (or record) that cannot be scored still becomes a row, with its file and line in the
read error: one that does not parse (nesting too deep included) or is not an object, and one
holding text that cannot be encoded (an unpaired surrogate, replaced by U+FFFD).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import fsspec
import pandas as pd
import pyarrow as pa
from rollscore.pipeline.inputs.block import Block, input_changed
from rollscore.pipeline.inputs.columns import (
    EXTRA_COLUMN,
    FLAG_COLUMNS,
    cell_reader,
    flag_value,
    json_type,
    without_lone_surrogates,
)
from rollscore.pipeline.inputs.discovery import uncompressed_name
from rollscore.pipeline.kernel import with_input_problems
from rollscore.rewards.result import ErrorKind, Problem

SCAN_RANGE_BYTES = 64 * 2**20
"""Bytes of a plain JSON-lines file one scan task reads, in one piece."""
_SPACE = re.compile(r"[ \t\n\r]*")
"""JSON's white space."""
UTF_8 = ("utf-8", "utf-8-sig")
"""json's names of UTF-8, without and with a byte-order mark."""
ENCODING_PROBE_BYTES = 2**20
"""Bytes of a JSON file's start whose line ends must agree with a UTF-16 or UTF-32 encoding
(:func:`json_kind`); a file with no newline byte in them keeps json's choice."""
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD]")
"""The start of a JSON escape of a surrogate, ``\\uD800`` to ``\\uDFFF`` (either case)."""


@dataclass
class Scan:
    """What one scan learned of the lines (or records) it owns."""

    url: str
    start: int
    """Byte offset of the first owned line (0 for a file scanned whole)."""
    stop: int
    """One past the last owned byte (the decompressed size, for a file scanned whole)."""
    lines: int = 0
    """Owned lines (or records), blank ones included."""
    offsets: list[int] = field(default_factory=list)
    """Byte offsets of owned lines 0, g, 2g, ...: empty for a file scanned whole."""
    key_counts: dict[str, int] = field(default_factory=dict)
    types: dict[str, set[str]] = field(default_factory=dict)
    chunk_digests: list[bytes] = field(default_factory=list)
    """The digest of each chunk of ``granularity`` owned lines (of the whole decompressed
    bytes, for a file scanned whole)."""
    chunk_rows: list[int] = field(default_factory=list)
    """The rows of each chunk: its lines that are not blank (a blank line is no row)."""

    @property
    def rows(self) -> int:
        return sum(self.chunk_rows)

    def learn(self, record: object) -> None:
        """Count a parsed record's keys and their JSON types."""
        if isinstance(record, dict):
            counts, types = self.key_counts, self.types
            for key, value in record.items():
                counts[key] = counts.get(key, 0) + 1
                kinds = types.get(key)
                if kinds is None:
                    kinds = types[key] = set()
                kinds.add(json_type(value))


def _parsed(text: bytes | str) -> object:
    """The JSON value of ``text``, or None when it does not parse (its row says why later)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def block_digest(chunk_digests: Iterable[bytes]) -> str:
    """A block's digest: of its chunks' digests, in order."""
    return hashlib.blake2b(b"".join(chunk_digests), digest_size=16).hexdigest()


def line_chunks(data: bytes, granularity: int) -> Iterator[tuple[int, bytes, list[bytes]]]:
    """Each ``granularity`` lines of ``data`` (the last chunk may be shorter): where it starts,
    its bytes, and its lines without their newlines. What follows the last newline is a line
    only when it is not empty. Only one chunk's lines exist at a time."""
    start = 0
    while start < len(data):
        stop = start
        for _ in range(granularity):
            newline = data.find(b"\n", stop)
            stop = len(data) if newline == -1 else newline + 1
            if stop == len(data):
                break
        chunk = data[start:stop]
        lines = chunk.split(b"\n")
        if not lines[-1]:
            lines.pop()
        yield start, chunk, lines
        start = stop


def _is_blank(line: bytes | str) -> bool:
    """Whether a line is no row: it holds nothing but JSON's white space (space, tab, CR), after
    a byte-order mark, which json skips (a file's own, on its first line). Python's ``strip``
    would also take form feeds and, in text decoded from UTF-16 or UTF-32, Unicode's spaces
    and separators, which are not JSON: a line of them is a row that does not parse."""
    if isinstance(line, str):
        return not line.removeprefix("\ufeff").strip(" \t\r\n")
    return not line.removeprefix(codecs.BOM_UTF8).strip(b" \t\r\n")


def scan_range(url: str, start: int, stop: int, granularity: int) -> Scan:
    """Scan the lines of a plain JSON-lines file that start in bytes ``[start, stop)``."""
    with fsspec.open(url, "rb") as handle:
        position = start
        if start > 0:
            handle.seek(start - 1)
            position = start - 1 + len(handle.readline())  # the line begun before is not ours
        data = handle.read(max(0, stop - position))
        if data and not data.endswith(b"\n"):
            data += handle.readline()  # the last owned line, to its end
    scan = Scan(url, position, position + len(data))
    for chunk_start, chunk, lines in line_chunks(data, granularity):
        scan.offsets.append(position + chunk_start)
        scan.lines += len(lines)
        scan.chunk_digests.append(_digest(chunk))
        rows = 0
        for line in lines:
            if not _is_blank(line):
                rows += 1
                scan.learn(_parsed(line))
        scan.chunk_rows.append(rows)
    return scan


def scan_whole(url: str, compression: str | None, kind: str) -> Scan:
    """Scan a file :func:`reads_whole` says is read whole, from its start."""
    with fsspec.open(url, "rb", compression=compression) as handle:
        data = handle.read()
    scan = Scan(url, 0, len(data), chunk_digests=[_digest(data)])
    rows = 0
    array = kind == "json_array"
    for item in _items(data, kind):
        scan.lines += 1
        if array or not _is_blank(item):
            rows += 1
            scan.learn(item if array else _parsed(item))
    scan.chunk_rows.append(rows)
    return scan


def _items(data: bytes, kind: str) -> list[object]:
    """The records of a JSON array, or the lines of JSON lines: bytes in UTF-8, text in UTF-16
    or UTF-32."""
    if kind == "json_array":
        return _array_records(data)
    lines = _decoded(data).split("\n") if kind == "jsonl_wide" else data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # what follows the last newline is no line
    return lines


def _decoded(data: bytes) -> str:
    """The text of JSON lines in UTF-16 or UTF-32, its unpaired surrogates kept for the reader
    to flag; bytes that are no text at all (a file cut inside a character) become U+FFFD."""
    encoding = json.detect_encoding(data)
    try:
        return data.decode(encoding, "surrogatepass")
    except UnicodeDecodeError:
        return data.decode(encoding, "replace")


@dataclass(frozen=True)
class BadRecord:
    """The rest of a JSON array from the first record that does not parse: one bad row."""

    reason: str


def _array_records(data: bytes) -> list[object]:
    """The records of a JSON array. Of one that does not parse (cut short, say): the records
    before the damage, then a :class:`BadRecord` saying what is wrong."""
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as error:  # its document is the text json decoded
        return [*_records_before(error.doc, error.pos), BadRecord(str(error))]
    except RecursionError:
        return [BadRecord("nested too deeply to parse")]
    except ValueError as error:  # text in no encoding json reads
        return [BadRecord(str(error))]
    return parsed if isinstance(parsed, list) else [parsed]


def _records_before(text: str, damage: int) -> list[object]:
    """The records of the array opening ``text`` that end before position ``damage``."""
    decoder, records = json.JSONDecoder(), []
    position = _SPACE.match(text, text.index("[") + 1).end()
    while position < damage and not text.startswith("]", position):
        try:
            record, end = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            break
        if end > damage:
            break
        records.append(record)
        position = _SPACE.match(text, end).end()
        if not text.startswith(",", position):
            break
        position = _SPACE.match(text, position + 1).end()
    return records


def json_kind(url: str, compression: str | None) -> str:
    """``json_array`` for a ``.json`` file whose first non-blank character opens a JSON array,
    else JSON lines: ``jsonl`` in UTF-8, ``jsonl_wide`` in UTF-16 or UTF-32 (as Windows tools
    write it). A ``.jsonl`` or ``.ndjson`` file is JSON lines whatever its first line holds.

    The encoding is json's own choice from the first bytes (``json.detect_encoding``, not in its
    documented API; the tests of files in each encoding fail if it changes), kept only if the
    line ends agree: UTF-8 lines after a stray NUL byte or byte-order mark (a file damaged at
    its start, or one UTF-16 line among UTF-8 ones) hold newline bytes that are no newline in
    UTF-16 or UTF-32, and are read line by line, the odd line a row with its error."""
    may_be_array = uncompressed_name(url)[0].endswith(".json")
    with fsspec.open(url, "rb", compression=compression) as handle:
        chunk = handle.read(4096)
        encoding = json.detect_encoding(chunk)
        if encoding not in UTF_8:
            chunk += handle.read(ENCODING_PROBE_BYTES - len(chunk))
            if b"\n" in chunk and "\n" not in chunk.decode(encoding, "replace"):
                encoding = "utf-8"
        decoder = codecs.getincrementaldecoder(encoding)("replace")
        first = ""  # the first non-blank character
        while may_be_array and chunk and not first:
            first = decoder.decode(chunk).lstrip(" \t\n\r")[:1]
            chunk = handle.read(4096)
    if first == "[":
        return "json_array"
    return "jsonl" if encoding in UTF_8 else "jsonl_wide"


def reads_whole(kind: str, compression: str | None) -> bool:
    """Whether a JSON file is scanned and read whole, as one block: a compressed file, an
    array, or lines in UTF-16 or UTF-32. Only plain JSON lines in UTF-8 are cut by bytes."""
    return kind != "jsonl" or compression is not None


def read_json_blocks(blocks: Sequence[Block], schema: pa.Schema) -> pd.DataFrame:
    """The rows of some JSON blocks, one after the other, in one frame with exactly the columns
    and types of ``schema``: the lines in a block's bytes of a plain file, or every line or
    record of a compressed or array file, each row's problem handed to the kernel. Raises
    :class:`InputChanged` when a block's bytes no longer match the planned digest."""
    columns: dict[str, list[object]] = {name: [] for name in schema.names}
    types = {name: schema.field(name).type for name in schema.names}
    kept = [
        (name, columns[name], cell_reader(types[name])) for name in types if name != EXTRA_COLUMN
    ]
    kept_names = {name for name, _, _ in kept}  # the rest go in the extra column
    extra = EXTRA_COLUMN in types
    problems: list[Problem | None] = []
    for block in blocks:
        array = block.kind == "json_array"
        for number, item in enumerate(_block_items(block), start=block.first_line):
            if not array and _is_blank(item):
                continue
            where = f"{block.url} {'record' if array else 'line'} {number}"
            row, problem = _row(item, where, array)
            for name, values, read in kept:
                values.append(read(row.get(name)))
            if extra:
                rest = {key: value for key, value in row.items() if key not in kept_names}
                columns[EXTRA_COLUMN].append(json.dumps(rest, ensure_ascii=False) if rest else None)
            problems.append(problem)
    frame = pa.Table.from_pydict(columns, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)
    if not schema.names:  # no row of the inputs holds a key: rows without columns
        frame = pd.DataFrame(index=pd.RangeIndex(len(problems)))
    return with_input_problems(frame, problems)


def _block_items(block: Block) -> list[object]:
    """A block's lines (JSON lines) or records (a JSON array), once its bytes are checked
    against the planned digest."""
    whole = reads_whole(block.kind, block.compression)
    with fsspec.open(block.url, "rb", compression=block.compression) as handle:
        handle.seek(block.start)
        data = handle.read() if whole else handle.read(block.stop - block.start)
    if whole:
        if block_digest([_digest(data)]) != block.digest:
            raise input_changed(block)
        return _items(data, block.kind)
    digests, lines = [], []
    for _, chunk, chunk_lines in line_chunks(data, block.granularity):
        digests.append(_digest(chunk))  # each chunk's copy of the bytes goes once digested
        lines += chunk_lines
    if block_digest(digests) != block.digest:
        raise input_changed(block)
    return lines


def _may_hold_a_surrogate(line: bytes) -> bool:
    """Whether json may read an unpaired surrogate from a line: it holds a JSON escape of one,
    the raw bytes of one in UTF-8 (lead byte 0xED), or NUL bytes, which make json read the line
    as UTF-16 or UTF-32 (its surrogates then have no mark of their own). The single bytes are
    searched first, as ``bytes.find`` seeks one byte several times faster than a longer text;
    the escape with a pattern, which finds it (or not) in a 1 kB line three times faster than
    ``in`` seeks ``\\u`` alone."""
    return b"\xed" in line or b"\x00" in line or _SURROGATE_ESCAPE.search(line) is not None


def _row(item: object, where: str, array: bool) -> tuple[dict, Problem | None]:
    """A line's (or an ``array``'s record's) values, and why the row cannot be scored, if it
    cannot."""
    if isinstance(item, BadRecord):
        return {}, Problem(ErrorKind.UNREADABLE_ROW, f"{where} is not valid JSON ({item.reason})")
    if array:
        record, suspicious = item, True
    else:  # a line: bytes in UTF-8, or text decoded from UTF-16 or UTF-32
        try:
            record = json.loads(item)
        except RecursionError:
            return {}, Problem(ErrorKind.UNREADABLE_ROW, f"{where} is nested too deeply to parse")
        except ValueError as error:
            return {}, Problem(ErrorKind.UNREADABLE_ROW, f"{where} is not valid JSON ({error})")
        suspicious = isinstance(item, str) or _may_hold_a_surrogate(item)
    if not isinstance(record, dict):
        return {}, Problem(ErrorKind.UNREADABLE_ROW, f"{where} is not a JSON object")
    problem = None
    if suspicious:
        record, replaced = without_lone_surrogates(record)
        if replaced:
            problem = Problem(
                ErrorKind.UNREADABLE_ROW,
                f"{where} holds text that is not valid Unicode (an unpaired surrogate, "
                "replaced by U+FFFD)",
            )
    response = record.get("response")
    if response is not None and not isinstance(response, str):
        record["response"] = None
        problem = problem or Problem(
            ErrorKind.BAD_INPUT, f"response is {type(response).__name__}, not a string"
        )
    for name in FLAG_COLUMNS:
        if name in record:
            record[name], why = flag_value(name, record[name])
            problem = problem or (None if why is None else Problem(ErrorKind.BAD_INPUT, why))
    return record, problem
