"""The report page: one self-contained HTML document (inline CSS, charts as base64 PNG data
URIs, no scripts) that opens with no network. Every text from the dataset is HTML-escaped."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

from rollscore.pipeline.report.data import (
    SAMPLE_LIMITS,
    TEXT_LIMIT,
    ExampleRow,
    ReportData,
    SourceReport,
)
from rollscore.pipeline.report.figures import (
    PALETTE,
    fraction_correct_chart,
    histogram_chart,
    length_chart,
    pass_at_k_chart,
    source_colour,
)
from rollscore.pipeline.summary import largest_k

CSS = f"""
* {{ box-sizing: border-box; }}
body {{ margin: 0; background: #f6f7f9; color: #222;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }}
main {{ max-width: 1280px; margin: 0 auto; padding: 24px 32px 48px; }}
header {{ border-bottom: 3px solid {PALETTE[0]}; margin-bottom: 20px; padding-bottom: 10px; }}
h1 {{ font-size: 24px; margin: 0 0 4px; }}
h2 {{ font-size: 19px; margin: 0 0 12px; }}
h3 {{ font-size: 15px; margin: 18px 0 8px; }}
.path {{ font-family: ui-monospace, Menlo, Consolas, monospace; color: #555; margin: 0;
  word-break: break-all; }}
.meta {{ color: #666; margin: 4px 0 0; font-size: 13px; }}
section {{ background: #fff; border: 1px solid #e2e4e8; border-radius: 8px; padding: 18px 20px;
  margin: 0 0 20px; }}
.stack {{ color: #5f6368; font-size: 12px; margin: -8px 0 20px; }}
.headline {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr));
  gap: 12px; background: none; border: none; padding: 0; }}
.card {{ background: #fff; border: 1px solid #e2e4e8; border-radius: 8px; padding: 12px 14px;
  border-top: 3px solid {PALETTE[0]}; }}
.card .value {{ font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }}
.card .label {{ color: #666; font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.04em; }}
.card.alert {{ border-top-color: #d03c2f; }}
.card.alert .value {{ color: #d03c2f; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; vertical-align: baseline; }}
.figures {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
  gap: 12px; }}
figure {{ margin: 0; }}
figure img {{ width: 100%; max-width: 600px; height: auto; display: block;
  border: 1px solid #eceef1; border-radius: 4px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ text-align: left; padding: 5px 8px; border-bottom: 1px solid #eceef1;
  vertical-align: top; }}
th {{ background: #f0f2f5; font-weight: 600; }}
td.number, th.number {{ text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }}
td.text {{ font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
  white-space: pre-wrap; word-break: break-word; }}
td.id {{ font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
  white-space: nowrap; }}
td.answer {{ font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
  white-space: pre-wrap; word-break: break-word; min-width: 10em; max-width: 20em; }}
tr:nth-child(even) td {{ background: #fafbfc; }}
.compact table {{ width: auto; min-width: 360px; }}
.note {{ color: #666; font-size: 13px; margin: 4px 0 10px; }}
"""


LARGE = 1e6
"""Values at least this large are shown in scientific notation (a reward may be 1e308)."""


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if abs(value) < LARGE else f"{value:.3g}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _counted(value: int, noun: str) -> str:
    return f"{value:,} {noun}{'' if value == 1 else 's'}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}" '
        'width="600" height="350"></figure>'
    )


def _table(head: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]]) -> str:
    """A table from (title, css class) headers and rows of already-escaped cells."""
    header = "".join(f'<th class="{kind}">{escape(title)}</th>' for title, kind in head)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{kind}">{cell}</td>' for (_, kind), cell in zip(head, row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: str | None) -> str:
    return "" if value is None else escape(value)


def _headline(data: ReportData) -> str:
    metrics = data.metrics
    k = largest_k(metrics["pass@k"])
    majority_k = largest_k(metrics["maj@k"])
    cards = [
        ("rows", _count(metrics["rows"]), False),
        ("prompts", _count(metrics["num_prompts"]), False),
        ("accuracy", _ratio(metrics["accuracy"]), False),
        ("fraction correct", _percent(metrics["fraction_correct"]), False),
        ("pass@1", _percent(metrics["pass@k"].get("1")), False),
    ]
    if k is not None and k != "1":
        cards.append((f"pass@{k}", _percent(metrics["pass@k"][k]), False))
    if majority_k is not None:
        cards.append((f"maj@{majority_k}", _percent(metrics["maj@k"][majority_k]), False))
    cards += [
        ("errors", _count(metrics["errors"]), metrics["errors"] > 0),
        ("timeouts", _count(metrics["timeouts"]), metrics["timeouts"] > 0),
        ("run time", _duration(data.seconds), False),
    ]
    return (
        '<section class="headline">'
        + "".join(
            f'<div class="card{" alert" if alert else ""}"><div class="value">{escape(value)}</div>'
            f'<div class="label">{escape(label)}</div></div>'
            for label, value, alert in cards
        )
        + "</section>"
    )


def _stack(data: ReportData) -> str:
    """The verifier stack the verdicts came from, in one line."""
    stack = data.verifier_stack
    if not stack:
        return ""
    versions = ", ".join(f"{name} {version}" for name, version in stack["versions"].items())
    accelerations = ", ".join(
        f"{name} {'on' if on else 'off'}" for name, on in stack["accelerations"].items()
    )
    return f'<p class="stack">Verified with {escape(versions)} ({escape(accelerations)}).</p>'


def _sources_overview(data: ReportData) -> str:
    k = largest_k(data.metrics["pass@k"])
    majority_k = largest_k(data.metrics["maj@k"])
    head = [
        ("data source", "name"),
        ("rows", "number"),
        ("correct", "number"),
        ("fraction correct", "number"),
        ("accuracy", "number"),
        ("pass@1", "number"),
        *([(f"pass@{k}", "number")] if k not in (None, "1") else []),
        *([(f"maj@{majority_k}", "number")] if majority_k is not None else []),
        ("errors", "number"),
        ("timeouts", "number"),
        ("mean generation length", "number"),
    ]
    rows = []
    for index, source in enumerate(data.sources):
        metrics = source.metrics
        length = metrics["generation_lengths"]
        rows.append(
            [
                f'<span class="swatch" style="background:{source_colour(index)}"></span>'
                f'<a href="#source-{index}">{escape(source.name)}</a>',
                _count(source.rows),
                _count(source.correct),
                _percent(metrics["fraction_correct"]),
                _ratio(metrics["accuracy"]),
                _percent(metrics["pass@k"].get("1")),
                *([_percent(metrics["pass@k"].get(k))] if k not in (None, "1") else []),
                *([_percent(metrics["maj@k"].get(majority_k))] if majority_k is not None else []),
                _count(metrics["errors"]),
                _count(metrics["timeouts"]),
                "-" if length is None else f"{length:,.1f}",
            ]
        )
    if not data.sources:
        return '<section><h2>By data source</h2><p class="note">No rows.</p></section>'
    charts = [
        _image(
            fraction_correct_chart(
                [source.name for source in data.sources],
                [source.correct for source in data.sources],
                [source.rows for source in data.sources],
            ),
            "fraction correct by data source",
        ),
        _image(
            pass_at_k_chart(
                {
                    source.name: {int(k): v for k, v in source.metrics["pass@k"].items()}
                    for source in data.sources
                },
                {int(k): v for k, v in data.metrics["pass@k"].items()},
            ),
            "pass@k by data source",
        ),
    ]
    return (
        "<section><h2>By data source</h2>"
        + _table(head, rows)
        + '<p class="note">accuracy: mean reward of properly ended samples; pass@k: unbiased '
        "estimate over prompts with at least k samples; maj@k: the chance that the most voted "
        "extracted answer among k samples is a correct one (ties count evenly).</p>"
        + f'<div class="figures">{"".join(charts)}</div></section>'
    )


def _wrong_answers_table(rows: Sequence[ExampleRow]) -> str:
    head = [
        ("id", "id"),
        ("ground truth", "answer"),
        ("extracted answer", "answer"),
        ("reward", "number"),
        ("response", "text"),
    ]
    cells = [
        [
            _text(row.id),
            _text(row.ground_truth),
            _text(row.extracted_answer),
            _ratio(row.reward),
            _text(row.response),
        ]
        for row in rows
    ]
    return _table(head, cells)


def _error_rows_table(rows: Sequence[ExampleRow]) -> str:
    head = [("data source", "name"), ("id", "id"), ("error", "answer"), ("response", "text")]
    cells = [
        [escape(row.data_source), _text(row.id), _text(row.error), _text(row.response)]
        for row in rows
    ]
    return _table(head, cells)


def _source_section(index: int, source: SourceReport, length_label: str) -> str:
    colour = source_colour(index)
    charts = [
        _image(
            histogram_chart(
                histogram,
                "reward (combined)" if column == "reward" else column,
                "reward",
                colour,
            ),
            f"{source.name}: histogram of {column}",
        )
        for column, histogram in source.rewards.items()
    ]
    if source.length_correct is not None and source.length_incorrect is not None:
        charts.append(
            _image(
                length_chart(
                    source.length_correct,
                    source.length_incorrect,
                    "Length of correct and incorrect responses",
                    length_label,
                ),
                f"{source.name}: {length_label} of correct and incorrect responses",
            )
        )
    if source.wrong_answers:
        wrong = (
            f'<p class="note">Up to {SAMPLE_LIMITS["wrong"]} incorrect rows without an error, '
            "sampled across the dataset by a hash of their content; texts cut at "
            f"{TEXT_LIMIT} characters.</p>" + _wrong_answers_table(source.wrong_answers)
        )
    else:
        wrong = '<p class="note">No incorrect rows without an error.</p>'
    metrics = source.metrics
    summary = (
        f"{_counted(source.rows, 'row')}, {source.correct:,} correct "
        f"({_percent(metrics['fraction_correct'])}), accuracy {_ratio(metrics['accuracy'])}, "
        f"{_counted(metrics['num_prompts'], 'prompt')}, {_counted(metrics['errors'], 'error')}"
    )
    return (
        f'<section id="source-{index}"><h2><span class="swatch" style="background:{colour}">'
        f"</span>Data source: {escape(source.name)}</h2>"
        f'<p class="note">{escape(summary)}</p>'
        f'<div class="figures">{"".join(charts)}</div>'
        f"<h3>Wrong answers</h3>{wrong}</section>"
    )


def _errors_section(data: ReportData) -> str:
    total = data.metrics["errors"]
    if not total:
        return '<section><h2>Errors</h2><p class="note">No errors.</p></section>'
    counts = _table(
        [("kind", "name"), ("rows", "number"), ("share of rows", "number")],
        [
            [escape(kind), _count(count), _percent(count / data.metrics["rows"])]
            for kind, count in data.error_counts.items()
        ],
    )
    examples = "".join(
        f"<h3>{escape(kind)} ({data.error_counts[kind]:,})</h3>" + _error_rows_table(rows)
        for kind, rows in data.error_examples.items()
        if rows
    )
    return (
        "<section><h2>Errors</h2>"
        f'<p class="note">{total:,} rows scored 0.0 because of an error, whatever their other '
        f"rewards gave. By kind, then up to {SAMPLE_LIMITS['error']} rows of each kind, "
        "sampled across the dataset.</p>"
        f'<div class="compact">{counts}</div>{examples}</section>'
    )


def render_report(data: ReportData) -> str:
    """The whole page for ``data``."""
    sources = "".join(
        _source_section(index, source, data.length_label)
        for index, source in enumerate(data.sources)
    )
    samples = data.metrics["samples_per_prompt"]
    meta = (
        f"{data.metrics['rows']:,} scored rows in {len(data.sources):,} data sources, "
        f"up to {samples:,} samples per prompt"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>rollscore report: {escape(data.outdir)}</title>"
        f"<style>{CSS}</style></head><body><main>"
        f'<header><h1>rollscore report</h1><p class="path">{escape(data.outdir)}</p>'
        f'<p class="meta">{escape(meta)}</p></header>'
        + _headline(data)
        + _stack(data)
        + _sources_overview(data)
        + sources
        + _errors_section(data)
        + "</main></body></html>\n"
    )
