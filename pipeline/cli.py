"""The ``rollscore`` command line.

    rollscore score INPUT... --config CFG.yaml --output OUTDIR [--scheduler ADDR]
        [--workers N] [--partition-rows N] [--performance-report FILE.html]
        [--resume | --overwrite] [--report]
    rollscore metrics OUTDIR [--scheduler ADDR] [--workers N]
    rollscore report OUTDIR [--output FILE.html] [--scheduler ADDR] [--workers N]

Exit 0 on success (bad rows included), 2 with one line on stderr for a mistake a user can
make (config, inputs, output folder, scheduler address), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from distributed import Client, performance_report

from pipeline.cluster import scoring_client
from pipeline.errors import USER_ERRORS
from pipeline.metrics import dataset_metrics
from pipeline.output import MANIFEST, METRICS, REPORT, OutputDir, scored_columns
from pipeline.report import require_plotting, write_report
from pipeline.run import ScoringJob, prepare_job, run_job
from pipeline.summary import summary_table


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rollscore", description="Score reinforcement-learning rollouts on Dask."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score rollout files into a Parquet dataset")
    score.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="JSONL/Parquet files, globs, folders, URLs"
    )
    score.add_argument("--config", required=True, help="YAML file of reward functions")
    score.add_argument("--output", required=True, help="folder for scores/, metrics.json, run.json")
    again = score.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="finish an interrupted run in --output"
    )
    again.add_argument("--overwrite", action="store_true", help="replace results in --output")
    score.add_argument("--partition-rows", type=_positive_int, help="rows per partition")
    score.add_argument(
        "--performance-report", metavar="FILE.html", help="save Dask's performance report"
    )
    score.add_argument(
        "--report", action="store_true", help=f"write OUTDIR/{REPORT} at the end of the run"
    )
    metrics = commands.add_parser("metrics", help="recompute metrics.json of a scored dataset")
    metrics.add_argument("output", metavar="OUTDIR", help="a folder written by 'rollscore score'")
    report = commands.add_parser("report", help="write an HTML report of a scored dataset")
    report.add_argument("output", metavar="OUTDIR", help="a folder written by 'rollscore score'")
    report.add_argument(
        "--output", dest="html", metavar="FILE.html", help=f"where (default: OUTDIR/{REPORT})"
    )
    for command in (score, metrics, report):
        command.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler")
        command.add_argument(
            "--workers", type=_positive_int, help="local worker processes (default: one per core)"
        )
    return parser


def _announce(client: Client) -> None:
    print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)


def _score(arguments: argparse.Namespace) -> int:
    if arguments.report:
        require_plotting()
    job: ScoringJob = prepare_job(
        arguments.inputs, arguments.config, arguments.output, arguments.resume, arguments.overwrite
    )
    with scoring_client(arguments.scheduler, arguments.workers) as client:
        _announce(client)
        report = (
            performance_report(filename=arguments.performance_report)
            if arguments.performance_report
            else contextlib.nullcontext()
        )
        try:
            with report:
                result = run_job(job, client, arguments.partition_rows, progress=True)
        except KeyboardInterrupt:
            done = len(job.output.finished_parts())
            print(
                f"rollscore: interrupted with {done} partitions written to {arguments.output}; "
                "run the same command with --resume to finish",
                file=sys.stderr,
            )
            return 130
        page = write_report(job.output.url, client=client) if arguments.report else None
    print(summary_table(result.metrics))
    print(f"{result.rows:,} rows scored into {result.output} in {result.seconds:.1f} s")
    if page:
        print(f"report written to {page}")
    return 0


def _metrics(arguments: argparse.Namespace) -> int:
    scored_columns(arguments.output)
    output = OutputDir(arguments.output)
    with scoring_client(arguments.scheduler, arguments.workers) as client:
        _announce(client)
        metrics = dataset_metrics(output.scores)
    previous = output.read_json(METRICS) or {}
    manifest = output.read_json(MANIFEST) or {}
    metrics["run"] = previous.get("run") or {"seconds": manifest.get("seconds")}
    output.write_json(METRICS, metrics)
    print(summary_table(metrics))
    return 0


def _report(arguments: argparse.Namespace) -> int:
    require_plotting()
    scored_columns(arguments.output)
    with scoring_client(arguments.scheduler, arguments.workers) as client:
        _announce(client)
        page = write_report(arguments.output, arguments.html, client)
    print(f"report written to {page}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    command = {"score": _score, "metrics": _metrics, "report": _report}[arguments.command]
    try:
        return command(arguments)
    except (*USER_ERRORS, OSError) as error:  # OSError: an unreachable scheduler or folder
        print(f"rollscore: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
