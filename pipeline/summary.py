"""The short table a run ends with: rows, errors, timeouts, accuracy, fraction correct, pass@1
and maj@k at the largest k, per data source."""

from __future__ import annotations

from typing import Any

COLUMNS = ("rows", "errors", "timeouts", "accuracy", "correct", "pass@1")


def largest_k(estimates: dict[str, float]) -> str | None:
    """The largest k of a pass@k or maj@k dict, None for an empty one."""
    return max(estimates, key=int) if estimates else None


def _cells(metrics: dict[str, Any], majority_k: str | None) -> list[str]:
    def ratio(value: float | None) -> str:
        """Three decimals; a mean beyond a million (users' rewards may be any finite number) in
        three significant digits, not in hundreds."""
        if value is None:
            return "-"
        return f"{value:.3f}" if abs(value) < 1e6 else f"{value:.3g}"

    return [
        f"{metrics['rows']:,}",
        f"{metrics['errors']:,}",
        f"{metrics['timeouts']:,}",
        ratio(metrics["accuracy"]),
        ratio(metrics["fraction_correct"]),
        ratio(metrics["pass@k"].get("1")),
        *([ratio(metrics["maj@k"].get(majority_k))] if majority_k else []),
    ]


def summary_table(metrics: dict[str, Any]) -> str:
    """One line per data source, then the whole run."""
    majority_k = largest_k(metrics["maj@k"])
    rows = [["data source", *COLUMNS, *([f"maj@{majority_k}"] if majority_k else [])]]
    rows += [
        [source, *_cells(values, majority_k)]
        for source, values in metrics["by_data_source"].items()
    ]
    rows.append(["all", *_cells(metrics, majority_k)])
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
