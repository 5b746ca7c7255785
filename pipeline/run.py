"""A scoring run: rollout files -> Dask dataframe -> scored partitions -> Parquet + metrics.

:func:`prepare_job` checks everything a user can get wrong (config, inputs, output folder)
before any cluster work; :func:`run_job` plans the partitions on the cluster, scores them
with ``map_partitions``, writes each one, and computes the metrics. The run is a Dask span
(``rollscore`` / ``score OUTDIR``), watched by rollscore's monitor unless the config turns it off
(:mod:`rollscore.pipeline.monitor`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from distributed import Client, as_completed, get_client
from distributed.comm import CommClosedError
from distributed.metrics import context_meter
from rollscore.pipeline.cluster import worker_count
from rollscore.pipeline.errors import ClusterLost, InputChanged, OutputExists, VerifierStackChanged
from rollscore.pipeline.inputs import Discovery, InputPlan, discover_inputs, plan_inputs
from rollscore.pipeline.inputs.plan import file_state, read_partition
from rollscore.pipeline.kernel import scored_rows, scored_rows_meta
from rollscore.pipeline.metrics import (
    MetricAccumulator,
    MetricPartials,
    metric_partials,
)
from rollscore.pipeline.monitor.plugin import install_monitor, new_span
from rollscore.pipeline.output import (
    MANIFEST,
    METRICS,
    OWN_FILES,
    REPORT,
    RUN_ID,
    SCORES,
    VERIFIER_STACK,
    OutputDir,
    OutputLock,
    PartWritten,
    is_run_manifest,
    own_files,
    part_label,
    part_name,
    write_scored_part,
    written_part,
)
from rollscore.pipeline.progress import ProgressLine
from rollscore.pipeline.worker_checks import check_worker_access, workers_verifier_stack
from rollscore.rewards import ConfigError, ScoringConfig, load_config
from rollscore.rewards.verifier.stack import VerifierStack, stack_differences


@dataclass(frozen=True)
class ScoringJob:
    """A validated request: what to score, how, and where the results go."""

    inputs: tuple[str, ...]
    discovery: Discovery
    config: ScoringConfig
    output: OutputDir
    lock: OutputLock
    """The hold on ``output``, released when the job has run."""
    run_id: str
    """The run's identifier in ``run.json`` (a resumed run keeps its own), labelling its
    parts."""
    earlier: dict[str, Any] | None = None
    """The ``run.json`` of the run already in ``output``: the one resumed, or replaced."""
    resuming: bool = False

    @property
    def resumed(self) -> InputPlan | None:
        """The interrupted run's plan, when resuming one."""
        return InputPlan.from_json(self.earlier["plan"]) if self.resuming else None

    @property
    def resumed_report(self) -> bool:
        """Whether the interrupted run being resumed lists a report as its own (one written with
        ``rollscore report`` before it finished)."""
        return self.resuming and REPORT in self.earlier.get(OWN_FILES, ())

    @property
    def previous_seconds(self) -> float:
        """How long the interrupted run had run, when resuming one."""
        return float(self.earlier.get("seconds") or 0.0) if self.resuming else 0.0

    def input_urls(self) -> list[str]:
        """The input files: as planned when resuming, else as found."""
        if self.resumed is not None:
            return [identity.url for identity in self.resumed.inputs]
        return [file.url for file in self.discovery.files]

    def input_bytes(self) -> int:
        """The size of the input files: as planned when resuming, else as they are now."""
        if self.resumed is not None:
            return sum(identity.size for identity in self.resumed.inputs)
        return sum(file_state(file.url)[0] for file in self.discovery.files)


@dataclass(frozen=True)
class RunResult:
    output: str
    rows: int
    partitions: int
    partitions_scored: int
    seconds: float
    metrics: dict[str, Any]


def prepare_job(
    inputs: Sequence[str],
    config: ScoringConfig | dict[str, Any] | str,
    output: str,
    resume: bool = False,
    overwrite: bool = False,
) -> ScoringJob:
    """Validate a run before any work and take its output folder. Raises ``ConfigError``,
    ``InputError``, ``InputChanged``, ``OutputExists`` or ``OutputLocked``, each with one line
    that says what is wrong. ``overwrite`` replaces the run already in ``output`` (its files
    are removed once the new run has planned its work); ``resume`` finishes the interrupted run
    there, if its inputs are still the ones it planned. A folder that is neither empty nor a
    rollscore output is refused; a user's own files in a rollscore output are kept."""
    config = load_config(config)
    out = OutputDir(output)
    lock = out.lock()
    try:
        earlier = out.read_json(MANIFEST)
        if earlier is None and not out.is_empty():
            raise OutputExists(
                f"output {out.url} is not empty and holds no rollscore run ({MANIFEST}): "
                "use an empty or new folder"
            )
        if earlier is not None and not is_run_manifest(earlier):
            raise OutputExists(
                f"output {out.url} holds a {MANIFEST} that is not a rollscore run's: "
                "remove it yourself, or use a new folder"
            )
        if earlier is not None and resume:
            return _resumed_job(inputs, config, out, earlier, lock)
        if earlier is not None and not overwrite:
            raise OutputExists(
                f"output {out.url} already holds results: use --resume, --overwrite or a new folder"
            )
        if earlier is not None and OWN_FILES not in earlier:
            raise OutputExists(
                f"output {out.url} holds a run whose {MANIFEST} does not list its files: "
                "remove them yourself, or use a new folder"
            )
        if earlier is not None:
            _check_replaceable(out, earlier)
        discovery = discover_inputs(inputs, skip=out.url)
    except BaseException:
        lock.release()
        raise
    return ScoringJob(tuple(inputs), discovery, config, out, lock, uuid.uuid4().hex, earlier)


def _check_replaceable(out: OutputDir, earlier: dict[str, Any]) -> None:
    """Raise :class:`OutputExists` unless ``--overwrite`` can replace the earlier run with
    nothing else lost: its run.json lists only files a run writes, and every part file in the
    folder is one it lists (checked before anything is removed)."""
    try:
        own = own_files(earlier)
    except ValueError as why:
        raise OutputExists(
            f"output {out.url} holds a {MANIFEST} that {why}: remove the earlier run's "
            "files yourself, or use a new folder"
        ) from None
    for name in out.part_files().values():
        if f"{SCORES}/{name}" not in own:
            raise OutputExists(
                f"output {out.url} holds {SCORES}/{name}, which its {MANIFEST} does not list: "
                "remove it, or use a new folder"
            )


def _resumed_job(
    inputs: Sequence[str],
    config: ScoringConfig,
    output: OutputDir,
    manifest: dict[str, Any],
    lock: OutputLock,
) -> ScoringJob:
    """The job that finishes the run ``manifest`` describes, once its config and inputs are
    checked to be the same."""
    where = f"cannot resume {output.url}"
    try:
        started_with = manifest["inputs"]
        plan = InputPlan.from_json(manifest["plan"])
        previous = load_config(manifest["config"])
        manifest[VERIFIER_STACK]
        run_id = str(manifest[RUN_ID])
    except (KeyError, TypeError, ValueError):
        raise OutputExists(
            f"{where}: its {MANIFEST} is not one this version of rollscore wrote"
        ) from None
    planned = [identity.url for identity in plan.inputs]
    named = _named_files(inputs, output) if list(inputs) else planned
    if list(inputs) != started_with and named != planned:
        raise OutputExists(f"{where}: it was started with {started_with}")
    added = [url for url in named if url not in planned]
    if added:  # in a folder or glob given, since the run was planned
        raise InputChanged(
            f"{where}: its inputs now hold {len(added)} files it did not plan ({added[0]}"
            f"{', ...' if len(added) > 1 else ''}); start again with --overwrite"
        )
    if previous != config:
        raise ConfigError(f"{where}: the config differs from its run's")
    changed = plan.changed_input()
    if changed is not None:
        raise InputChanged(f"{where}: {changed} since it started; start again with --overwrite")
    return ScoringJob(
        tuple(started_with), Discovery(), config, output, lock, run_id, manifest, True
    )


def _named_files(inputs: Sequence[str], output: OutputDir) -> list[str]:
    """The files ``inputs`` name now, as a run writing to ``output`` finds them: another
    spelling of a run's inputs (``./a.jsonl`` for ``a.jsonl``) names the same files."""
    return [file.url for file in discover_inputs(inputs, skip=output.url).files]


def run_name(job: ScoringJob) -> str:
    """The readable name of a run, in the dashboard and Prometheus: ``score`` and its output
    folder's name."""
    return f"score {os.path.basename(job.output.url.rstrip('/')) or job.output.url}"


def run_job(
    job: ScoringJob,
    client: Client | None = None,
    partition_rows: int | None = None,
    progress: bool = True,
) -> RunResult:
    """Score the job's rows on ``client`` (default: the current client) and write them; the
    job's output folder is let go at the end, however it ends."""
    try:
        client = client or get_client()
        if job.config.monitor:
            install_monitor(client)
        return _run(job, client, partition_rows, progress, new_span(run_name(job)))
    except (CancelledError, CommClosedError) as error:
        raise ClusterLost(f"the Dask cluster went away mid-run ({type(error).__name__})") from None
    finally:
        job.lock.release()


def _finished_parts(job: ScoringJob, plan: InputPlan, client: Client) -> dict[int, str]:
    """The parts a resumed run keeps, by index: each read whole on the cluster, with its
    partition's rows and label (a part cut short, damaged or copied by hand is scored
    again). Raises :class:`OutputExists` for a part file that is not one of the plan's parts."""
    output, parts = job.output, len(plan.partitions)
    files = sorted(output.part_files().items())
    for index, name in files:
        if index >= parts or name != part_name(index, parts):
            raise OutputExists(
                f"output {output.url} holds {SCORES}/{name}, which is not one of its run's "
                f"{parts:,} parts: remove it, or use a new folder"
            )
    urls = [output.path(SCORES, name) for _, name in files]
    found = client.gather(client.map(written_part, urls, pure=False))
    return {
        index: name
        for (index, name), part in zip(files, found)
        if part == (plan.partition_rows(index), part_label(job.run_id, index))
    }


def _run(
    job: ScoringJob,
    client: Client,
    partition_rows: int | None,
    progress: bool,
    run_span: dict[str, Any],
) -> RunResult:
    """The run, its work on the cluster submitted within ``run_span``."""
    started = time.perf_counter()
    check_worker_access(client, job.output, job.input_urls())
    stack = workers_verifier_stack(client)
    plan = job.resumed
    if plan is not None:
        _check_same_stack(job, stack)
        with dask.annotate(span=run_span):
            written = _finished_parts(job, plan, client)
    else:
        with dask.annotate(span=run_span):
            plan = plan_inputs(job.discovery.files, client, partition_rows, worker_count(client))
        if job.earlier is not None:  # replaced, now that the new run is known to start
            job.output.remove_run(job.earlier)
        _write_manifest(job, plan, stack, finished=False, seconds=0.0)
        written = {}
    todo = [index for index in range(len(plan.partitions)) if index not in written]
    accumulator = MetricAccumulator()
    _score_blocks(job, plan, todo, client, progress, accumulator, run_span)
    parts = [job.output.path(SCORES, name) for name in written.values()]
    with dask.annotate(span=run_span):
        accumulator.add_written(parts, client)
    metrics = accumulator.metrics()
    seconds = job.previous_seconds + time.perf_counter() - started
    metrics["run"] = {
        "seconds": seconds,
        "partitions": len(plan.partitions),
        "inputs": list(job.inputs),
        VERIFIER_STACK: stack,
    }
    job.output.write_json(METRICS, metrics)
    _write_manifest(job, plan, stack, finished=True, seconds=seconds)
    partitions = len(plan.partitions)
    return RunResult(job.output.url, metrics["rows"], partitions, len(todo), seconds, metrics)


def _check_same_stack(job: ScoringJob, stack: VerifierStack) -> None:
    """Refuse to resume a run under another verifier stack: one dataset, one verifier."""
    changes = stack_differences(job.earlier[VERIFIER_STACK], stack)
    if changes:
        raise VerifierStackChanged(
            f"cannot resume {job.output.url}: the verifier stack changed since it started "
            f"({'; '.join(changes)}), so its rows would mix two verifiers' verdicts; "
            "start again with --overwrite, or resume where it started"
        )


def score_rollouts(
    inputs: Sequence[str],
    config: ScoringConfig | dict[str, Any] | str,
    output: str,
    *,
    client: Client | None = None,
    partition_rows: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> RunResult:
    """Score rollout files into ``output``: the whole run, from Python."""
    job = prepare_job(inputs, config, output, resume, overwrite)
    return run_job(job, client, partition_rows, progress)


def scored_partitions(
    plan: InputPlan, partitions: Sequence[int], config: ScoringConfig
) -> tuple[dd.DataFrame, pa.Schema]:
    """The lazy Dask dataframe of the given partitions of the plan, scored partition by
    partition, and the Arrow schema of its rows."""
    input_meta = plan.schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    rollouts = dd.from_map(
        read_partition,
        [plan.partition_blocks(index) for index in partitions],
        schema=plan.schema,
        meta=input_meta,
        label="read-rollouts",
        enforce_metadata=False,
    )
    meta = scored_rows_meta(input_meta, config)
    scored = rollouts.map_partitions(scored_rows, config, meta=meta, token="score-rollouts")
    return scored, pa.Schema.from_pandas(meta, preserve_index=False)


def finish_part(
    frame: pd.DataFrame, url: str, schema: pa.Schema, label: str
) -> tuple[PartWritten, MetricPartials]:
    """Write one scored partition and reduce it to its metric partials, in one task: the
    metrics need no second pass over the dataset. The writing shows as such in Dask's fine
    performance metrics."""
    with context_meter.meter("writing"):
        written = write_scored_part(frame, url, schema, label)
    return written, metric_partials(frame)


def _score_blocks(
    job: ScoringJob,
    plan: InputPlan,
    todo: list[int],
    client: Client,
    progress: bool,
    accumulator: MetricAccumulator,
    run_span: dict[str, Any],
) -> None:
    """Score, write and reduce the blocks ``todo``, the progress line following along."""
    if not todo:
        return
    scored, schema = scored_partitions(plan, todo, config=job.config)
    run = uuid.uuid4().hex[:8]
    writes = [
        dask.delayed(finish_part)(
            part,
            job.output.path(SCORES, part_name(index, len(plan.partitions))),
            schema,
            part_label(job.run_id, index),
            dask_key_name=f"write-scores-{index:05d}-{run}",
        )
        for part, index in zip(scored.to_delayed(), todo)
    ]
    line = (
        ProgressLine(len(todo), sum(plan.partition_rows(index) for index in todo))
        if progress
        else None
    )
    # Each finished future is dropped once read, so its result leaves the worker's memory.
    with dask.annotate(span=run_span):
        pending = set(client.compute(writes))
    try:
        for future in as_completed(pending):
            pending.discard(future)
            written, partials = future.result()
            accumulator.add(partials)
            if line is not None:
                line.update(written.rows, written.errors, written.timeouts)
    finally:
        if line is not None:
            line.close()
        client.cancel(list(pending))


def _write_manifest(
    job: ScoringJob, plan: InputPlan, stack: VerifierStack, finished: bool, seconds: float
) -> None:
    parts = len(plan.partitions)
    report = [REPORT] if job.resumed_report else []  # a resumed run keeps its report
    job.output.write_json(
        MANIFEST,
        {
            RUN_ID: job.run_id,
            "inputs": list(job.inputs),
            "config": job.config.to_mapping(),
            VERIFIER_STACK: stack,
            "plan": plan.to_json(),
            "finished": finished,
            "seconds": seconds,
            OWN_FILES: [
                MANIFEST,
                METRICS,
                *(f"{SCORES}/{part_name(index, parts)}" for index in range(parts)),
                *report,
            ],
        },
    )
