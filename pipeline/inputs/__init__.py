"""Reading rollouts: which files the inputs name (:mod:`.discovery`), how they are cut into
partitions (:mod:`.plan`), and the readers of one partition's rows (:mod:`.jsonl`,
:mod:`.parquet`)."""

from rollscore.pipeline.inputs.discovery import Discovery, InputFile, discover_inputs
from rollscore.pipeline.inputs.plan import (
    Block,
    InputPlan,
    plan_inputs,
    read_block,
    read_partition,
)

__all__ = [
    "Block",
    "Discovery",
    "InputFile",
    "InputPlan",
    "discover_inputs",
    "plan_inputs",
    "read_block",
    "read_partition",
]
