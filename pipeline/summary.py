"""The short table a run ends with: rows, errors, timeouts, accuracy, per data source."""

from __future__ import annotations

from typing import Any

COLUMNS = ("rows", "errors", "timeouts", "accuracy", "correct", "pass@1")


def _cells(metrics: dict[str, Any]) -> list[str]:
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    return [
        f"{metrics['rows']:,}",
        f"{metrics['errors']:,}",
        f"{metrics['timeouts']:,}",
        ratio(metrics["accuracy"]),
        ratio(metrics["fraction_correct"]),
        ratio(metrics["pass@k"].get("1")),
    ]


def summary_table(metrics: dict[str, Any]) -> str:
    """One line per data source, then the whole run."""
    rows = [["data source", *COLUMNS]]
    rows += [[source, *_cells(values)] for source, values in metrics["by_data_source"].items()]
    rows.append(["all", *_cells(metrics)])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
