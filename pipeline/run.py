"""A scoring run: rollout files -> Dask dataframe -> scored partitions -> Parquet + metrics.

:func:`prepare_job` checks everything a user can get wrong (config, inputs, output folder)
before any cluster work; :func:`run_job` plans the partitions on the cluster, scores them
with ``map_partitions``, writes each one, and computes the metrics.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from distributed import Client, as_completed, get_client

from pipeline.cluster import worker_count
from pipeline.errors import OutputExists
from pipeline.inputs import InputFile, InputPlan, discover_inputs, plan_inputs, read_block
from pipeline.metrics import dataset_metrics
from pipeline.output import MANIFEST, METRICS, SCORES, OutputDir, part_name, write_scored_part
from pipeline.partition import score_partition, scored_meta
from pipeline.progress import ProgressLine
from rewards import ConfigError, ScoringConfig, VerifierUnavailable, load_config


@dataclass(frozen=True)
class ScoringJob:
    """A validated request: what to score, how, and where the results go."""

    inputs: tuple[str, ...]
    files: tuple[InputFile, ...]
    config: ScoringConfig
    output: OutputDir
    manifest: dict[str, Any] | None
    """The interrupted run's manifest when resuming one, else None."""


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
    """Validate a run before any work. Raises ``ConfigError``, ``InputError`` or
    ``OutputExists``, each with one line that says what is wrong. ``overwrite`` discards the
    results already in ``output``; ``resume`` finishes the interrupted run there."""
    config = load_config(config)
    out = OutputDir(output)
    manifest = out.read_json(MANIFEST) if resume else None
    if manifest is not None:
        if list(inputs) and list(inputs) != manifest["inputs"]:
            raise OutputExists(f"cannot resume {output}: it was started with {manifest['inputs']}")
        if load_config(manifest["config"]) != config:
            raise ConfigError(f"cannot resume {output}: the config differs from its run's")
        return ScoringJob(tuple(manifest["inputs"]), (), config, out, manifest)
    files = tuple(discover_inputs(inputs))
    if out.holds_results():
        if resume:
            raise OutputExists(f"output {output} holds scores but no {MANIFEST}: cannot resume")
        if not overwrite:
            raise OutputExists(
                f"output {output} already holds results: use --resume, --overwrite or a new folder"
            )
        out.clear()
    return ScoringJob(tuple(inputs), files, config, out, None)


def run_job(
    job: ScoringJob,
    client: Client | None = None,
    partition_rows: int | None = None,
    progress: bool = True,
) -> RunResult:
    """Score the job's rows on ``client`` (default: the current client) and write them."""
    client = client or get_client()
    started = time.perf_counter()
    if job.manifest is not None:
        plan = InputPlan.from_json(job.manifest["plan"])
        previous_seconds = job.manifest.get("seconds", 0.0)
    else:
        plan = plan_inputs(job.files, client, partition_rows, worker_count(client))
        previous_seconds = 0.0
        _write_manifest(job, plan, finished=False, seconds=0.0)
    todo = sorted(set(range(len(plan.blocks))) - job.output.finished_parts())
    _score_blocks(job, plan, todo, client, progress)
    metrics = dataset_metrics(job.output.scores)
    seconds = previous_seconds + time.perf_counter() - started
    metrics["run"] = {
        "seconds": seconds,
        "partitions": len(plan.blocks),
        "inputs": list(job.inputs),
    }
    job.output.write_json(METRICS, metrics)
    _write_manifest(job, plan, finished=True, seconds=seconds)
    return RunResult(job.output.url, metrics["rows"], len(plan.blocks), len(todo), seconds, metrics)


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
    plan: InputPlan, blocks: Sequence[int], config: ScoringConfig
) -> dd.DataFrame:
    """The lazy Dask dataframe of the given blocks, scored partition by partition."""
    input_meta = plan.schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    rollouts = dd.from_map(
        read_block,
        [plan.blocks[index] for index in blocks],
        schema=plan.schema,
        meta=input_meta,
        label="read-rollouts",
        enforce_metadata=False,
    )
    return rollouts.map_partitions(
        score_partition, config, meta=scored_meta(input_meta, config), token="score-rollouts"
    )


def _score_blocks(
    job: ScoringJob, plan: InputPlan, todo: list[int], client: Client, progress: bool
) -> None:
    if not todo:
        return
    scored = scored_partitions(plan, todo, config=job.config)
    schema = pa.Schema.from_pandas(scored._meta, preserve_index=False)
    run = uuid.uuid4().hex[:8]
    writes = [
        dask.delayed(write_scored_part)(
            part,
            job.output.path(SCORES, part_name(index)),
            schema,
            dask_key_name=f"write-scores-{index:05d}-{run}",
        )
        for part, index in zip(scored.to_delayed(), todo)
    ]
    line = (
        ProgressLine(len(todo), sum(plan.blocks[index].rows for index in todo))
        if progress
        else None
    )
    futures = client.compute(writes)
    try:
        for future in as_completed(futures):
            written = future.result()
            if written.unavailable is not None:
                raise VerifierUnavailable(written.unavailable)
            if line is not None:
                line.update(written.rows, written.errors, written.timeouts)
    finally:
        if line is not None:
            line.close()
        client.cancel(futures)


def _write_manifest(job: ScoringJob, plan: InputPlan, finished: bool, seconds: float) -> None:
    job.output.write_json(
        MANIFEST,
        {
            "inputs": list(job.inputs),
            "config": job.config.to_mapping(),
            "plan": plan.to_json(),
            "finished": finished,
            "seconds": seconds,
        },
    )
