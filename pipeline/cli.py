"""The ``rollscore`` command line.

    rollscore --version
    rollscore score INPUT... --config CFG.yaml --output OUTDIR [--partition-rows N]
        [--performance-report FILE.html] [--resume | --overwrite] [--report] [CLUSTER]
    rollscore metrics OUTDIR [CLUSTER]
    rollscore report OUTDIR [--output FILE.html] [CLUSTER]
    rollscore serve --config CFG.yaml [--host 127.0.0.1] [--port 8000] [--token TOKEN]
        [--no-token] [--ground-truth-field NAME] [LIMITS] [CLUSTER]

    CLUSTER: [--scheduler ADDR] [--workers N] [--dashboard-address HOST:PORT]
             [--wait-for-workers SECONDS]

Exit 0 on success (bad rows included); 2 with one line on stderr for a mistake a user can make
(config, inputs, output folder, scheduler address, a scoring process that cannot start, an
address ``serve`` may not listen on without a token); 1
when the cluster goes away mid-run; 130 when interrupted. A score that stopped half-way says
how many partitions are written and how to finish with ``--resume``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence

from distributed import Client, performance_report
from rollscore.pipeline.cluster import (
    WORKER_WAIT,
    default_workers,
    prestart_scoring_processes,
    scoring_client,
)
from rollscore.pipeline.errors import (
    USER_ERRORS,
    ClusterLost,
    InputError,
    OutputUnwritable,
    ReportUnavailable,
    ServeRefused,
)
from rollscore.pipeline.inputs.discovery import EXPECTED
from rollscore.pipeline.metrics import dataset_metrics
from rollscore.pipeline.output import MANIFEST, METRICS, REPORT, OutputDir, scored_columns
from rollscore.pipeline.report import require_plotting, write_report
from rollscore.pipeline.run import ScoringJob, prepare_job, run_job
from rollscore.pipeline.summary import summary_table
from rollscore.rewards import load_config
from rollscore.rewards.verifier import pool
from rollscore.rewards.verifier.stack import describe_stack, verifier_stack

SMALL_INPUT_BYTES = 16 * 2**20
"""Inputs up to this size are scored on a local cluster inside the command's process: starting
worker processes would take longer than the scoring."""

SKIPPED_SHOWN = 5
"""Skipped files the warning names before it says "..."."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


class _PrintVersions(argparse.Action):
    """``--version``: the verifier stack, one line each, then exit."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(describe_stack(verifier_stack()))
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rollscore", description="Score reinforcement-learning rollouts on Dask."
    )
    parser.add_argument(
        "--version",
        action=_PrintVersions,
        help="print the versions of rollscore and its verifier stack, and which of its "
        "accelerations of math-verify are on",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score rollout files into a Parquet dataset")
    score.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="JSONL/Parquet files, globs, folders, URLs"
    )
    score.add_argument("--config", required=True, help="YAML file of reward functions")
    score.add_argument(
        "--config-section",
        metavar="PATH",
        help="read the rewards from this section of a NeMo-RL experiment YAML (env.NAME)",
    )
    score.add_argument("--output", required=True, help="folder for scores/, metrics.json, run.json")
    again = score.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="finish an interrupted run in --output"
    )
    again.add_argument("--overwrite", action="store_true", help="replace results in --output")
    score.add_argument("--partition-rows", type=_positive_int, help="rows per partition")
    score.add_argument(
        "--performance-report",
        type=_html_file,
        metavar="FILE.html",
        help="save Dask's performance report",
    )
    score.add_argument(
        "--report", action="store_true", help=f"write OUTDIR/{REPORT} at the end of the run"
    )
    metrics = commands.add_parser("metrics", help="recompute metrics.json of a scored dataset")
    metrics.add_argument("output", metavar="OUTDIR", help="a folder written by 'rollscore score'")
    report = commands.add_parser("report", help="write an HTML report of a scored dataset")
    report.add_argument("output", metavar="OUTDIR", help="a folder written by 'rollscore score'")
    report.add_argument(
        "--output",
        dest="html",
        type=_html_file,
        metavar="FILE.html",
        help=f"where (default: OUTDIR/{REPORT})",
    )
    serve = commands.add_parser(
        "serve", help="a verification service for trainers that call rewards over HTTP"
    )
    _serve_arguments(serve)
    for command in (score, metrics, report, serve):
        command.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler")
        command.add_argument(
            "--workers",
            type=_positive_int,
            help="local workers (default: one per core; for an input under 16 MB, threads of "
            "one worker inside this process)",
        )
        command.add_argument(
            "--dashboard-address",
            type=_host_port,
            metavar="HOST:PORT",
            help="where the local cluster's dashboard listens (default: 127.0.0.1:8787)",
        )
        command.add_argument(
            "--wait-for-workers",
            type=_positive_int,
            default=int(WORKER_WAIT),
            metavar="SECONDS",
            help=f"how long --scheduler may have no workers (default: {WORKER_WAIT:g})",
        )
    return parser


def _html_file(text: str) -> str:
    """A file name ending in ``.html`` that is not a folder's, as given, known before the run:
    a report then never replaces a file of another kind (an input, a scored part, run.json)."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; name a file")
    if not text.lower().endswith((".html", ".htm")):
        raise argparse.ArgumentTypeError(
            f"{text!r} does not end in .html; the report is an HTML page: name one"
        )
    return text


def _host_port(text: str) -> str:
    """A ``HOST:PORT`` (``:PORT`` for every address) whose port is one and whose host
    resolves, as given."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (a port of 0 to 65535), got {text!r}")
    try:
        socket.getaddrinfo(host.strip("[]") or None, int(port))
    except (socket.gaierror, UnicodeError):
        raise argparse.ArgumentTypeError(f"cannot resolve {host!r}") from None
    return text


def _port(text: str) -> int:
    """A port number, 0 to 65535 (0: any free one)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port of 0 to 65535, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--config", required=True, help="YAML file of reward functions")
    serve.add_argument(
        "--config-section",
        metavar="PATH",
        help="read the rewards from this section of a NeMo-RL experiment YAML (env.NAME)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0: any)")
    serve.add_argument(
        "--token",
        help="requests must carry 'Authorization: Bearer TOKEN' (default: "
        "$ROLLSCORE_SERVE_TOKEN); needed to listen beyond 127.0.0.1",
    )
    serve.add_argument(
        "--no-token", action="store_true", help="listen beyond 127.0.0.1 without a token"
    )
    serve.add_argument(
        "--ground-truth-field",
        default="expected_answer",
        metavar="NAME",
        help="the field of a NeMo-Gym verify request that holds the ground truth "
        "(default: expected_answer)",
    )
    serve.add_argument(
        "--max-body-mb", type=_positive_float, default=16.0, help="request size limit (16)"
    )
    serve.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="how long a request's body may take to arrive before a 408 (10)",
    )
    serve.add_argument(
        "--batch-rows", type=_positive_int, default=256, help="rows gathered at most (256)"
    )
    serve.add_argument(
        "--batch-wait-ms",
        type=_positive_float,
        default=5.0,
        help="how long a batch waits for more rows after its first (5)",
    )
    serve.add_argument(
        "--max-queued-rows",
        type=_positive_int,
        default=20_000,
        help="rows waiting at most; past it, 503 with Retry-After (20000)",
    )
    serve.add_argument(
        "--request-timeout",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="how long a request may wait for its scores before a 503 (60)",
    )


@contextlib.contextmanager
def _client(arguments: argparse.Namespace, in_process: bool = False) -> Iterator[Client]:
    """The command's cluster client, its dashboard link announced on stderr."""
    with scoring_client(
        arguments.scheduler,
        arguments.workers,
        arguments.dashboard_address,
        arguments.wait_for_workers,
        in_process,
    ) as client:
        print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
        yield client


def _warn_skipped(paths: Sequence[str], what: str) -> None:
    """One warning line naming the first paths skipped."""
    if paths:
        shown = ", ".join(paths[:SKIPPED_SHOWN]) + (", ..." if len(paths) > SKIPPED_SHOWN else "")
        print(f"rollscore: warning: skipped {len(paths):,} {what}: {shown}", file=sys.stderr)


def _report_to_rewrite(job: ScoringJob) -> bool:
    """Whether a resumed run writes its report again at its end: one written (with ``rollscore
    report``) before the run finished counts only the rows scored then. Without matplotlib it
    stays, and one warning line says so."""
    if not (job.resumed_report and job.output.has(REPORT)):
        return False
    try:
        require_plotting()
    except ReportUnavailable as why:
        print(
            f"rollscore: warning: {job.output.path(REPORT)} was written before the run finished "
            f"and is not written again ({why})",
            file=sys.stderr,
        )
        return False
    return True


def _score(arguments: argparse.Namespace) -> int:
    if arguments.report:
        require_plotting()
    config = load_config(arguments.config, arguments.config_section)
    job: ScoringJob = prepare_job(
        arguments.inputs, config, arguments.output, arguments.resume, arguments.overwrite
    )
    refresh_report = arguments.report or _report_to_rewrite(job)
    _warn_skipped(job.discovery.skipped, f"files that are not rollouts ({EXPECTED})")
    _warn_skipped(job.discovery.outputs_skipped, "rollscore output folders, never read as input")
    _warn_skipped(job.discovery.repeated, "files named again (each is scored once)")
    in_process = arguments.scheduler is None and job.input_bytes() <= SMALL_INPUT_BYTES
    if in_process and config.uses_scoring_processes:
        # while the cluster starts; the in-process worker's prestart below then finds them
        pool.scoring_processes.prestart(arguments.workers or default_workers())
    with _client(arguments, in_process) as client:
        if config.uses_scoring_processes:
            client.run(prestart_scoring_processes, wait=False)
        report = (
            performance_report(filename=arguments.performance_report)
            if arguments.performance_report
            else contextlib.nullcontext()
        )
        with report:
            result = run_job(job, client, arguments.partition_rows, progress=True)
        page = write_report(job.output.url, client=client) if refresh_report else None
    print(summary_table(result.metrics))
    print(f"{result.rows:,} rows scored into {result.output} in {result.seconds:.1f} s")
    if page:
        print(f"report written to {page}")
    return 0


def _metrics(arguments: argparse.Namespace) -> int:
    scored_columns(arguments.output)
    output = OutputDir(arguments.output)
    lock = output.lock()
    try:
        with _client(arguments) as client:
            metrics = dataset_metrics(output.url, client)
        previous = output.read_json(METRICS) or {}
        manifest = output.read_json(MANIFEST) or {}
        metrics["run"] = previous.get("run") or {"seconds": manifest.get("seconds")}
        output.write_json(METRICS, metrics)
    finally:
        lock.release()
    print(summary_table(metrics))
    return 0


def _report(arguments: argparse.Namespace) -> int:
    require_plotting()
    scored_columns(arguments.output)
    try:
        lock = OutputDir(arguments.output).lock()
    except OSError:
        if arguments.html is None:
            raise
        lock = None  # a folder nobody can write (read-only storage): no run changes it either
    try:
        with _client(arguments) as client:
            page = write_report(arguments.output, arguments.html, client)
    finally:
        if lock is not None:
            lock.release()
    print(f"report written to {page}")
    return 0


def _serve(arguments: argparse.Namespace) -> int:
    try:
        from rollscore.env.serve.command import ServeOptions, serve
    except ImportError as error:
        raise ServeRefused(
            f"rollscore serve needs the serve extra (pip install 'rollscore[serve]'): {error}"
        ) from None
    config = load_config(arguments.config, arguments.config_section)
    options = ServeOptions(
        host=arguments.host,
        port=arguments.port,
        token=arguments.token,
        no_token=arguments.no_token,
        ground_truth_field=arguments.ground_truth_field,
        max_body_bytes=int(arguments.max_body_mb * 2**20),
        body_timeout=arguments.body_timeout,
        batch_rows=arguments.batch_rows,
        batch_wait=arguments.batch_wait_ms / 1000,
        max_queued_rows=arguments.max_queued_rows,
        request_timeout=arguments.request_timeout,
    )
    return serve(config, options, lambda: _client(arguments))


def _resume_hint(arguments: argparse.Namespace) -> str:
    """What a ``score`` that stopped half-way has written, and how to finish it."""
    if arguments.command != "score":
        return ""
    again = "instead of --overwrite" if arguments.overwrite else "to finish"
    output = OutputDir(arguments.output)
    try:
        if output.read_json(MANIFEST) is None:
            return f"; nothing was written to {arguments.output}"
        written = f"{len(output.finished_parts()):,} partitions are"
    except (InputError, OSError):
        written = "some partitions may be"
    return f"; {written} written to {arguments.output}: run the same command with --resume {again}"


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C: Python's KeyboardInterrupt, once the event loop's errors are silenced. Dask's
    client, interrupted while it waits for a call that has not started yet, cancels that call
    with a callback which raises NameError there, logged with its traceback."""
    logging.getLogger("tornado.application").setLevel(logging.CRITICAL)
    raise KeyboardInterrupt


def take_ctrl_c_quietly() -> None:
    """Take Ctrl-C with :func:`_interrupted`, unless SIGINT is ignored (a job started in the
    background) or already someone else's."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    # a lost scheduler is said in one line below; Dask's client would also log it at length, and
    # the client's stream to the scheduler, caught writing as it went, with a traceback at INFO
    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
    logging.getLogger("distributed.batched").setLevel(logging.WARNING)
    take_ctrl_c_quietly()
    command = {"score": _score, "metrics": _metrics, "report": _report, "serve": _serve}[
        arguments.command
    ]
    try:
        return command(arguments)
    except (*USER_ERRORS, OSError) as error:  # OSError: an unreachable scheduler or folder
        print(f"rollscore: error: {error}", file=sys.stderr)
        return 2
    except (ClusterLost, OutputUnwritable) as error:
        print(f"rollscore: error: {error}{_resume_hint(arguments)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rollscore: interrupted{_resume_hint(arguments)}", file=sys.stderr)
        return 130


def run() -> None:
    """The ``rollscore`` command: :func:`main`, then an exit that skips the interpreter's
    teardown of Dask's and pandas' modules, a noticeable part of a short run. The command has
    closed its cluster by then; its scoring processes are stopped and its output flushed
    here."""
    code = main()
    pool.scoring_processes.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
