"""What the workers must share with the client before a run scores anything: the run's files,
seen as the client sees them, and one verifier stack.

A worker on another machine (or in another mount namespace) that does not see the client's
disk would read no input, or write the parts to a folder of its own and leave the client's
empty; workers with different library versions would mix two verifiers' verdicts in one
dataset. Both are found here, before any work, and said in one line naming the worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from distributed import Client
from fsspec.core import url_to_fs
from rollscore.pipeline.errors import VerifierStackChanged, WorkersCannotSee
from rollscore.pipeline.output import LOCK, OutputDir
from rollscore.rewards.verifier.stack import VerifierStack, stack_differences, verifier_stack

SHARED_FOLDERS = (
    "the workers need a file system they share with this machine, or an fsspec URL such as s3://"
)


def what_this_worker_misses(lock_url: str, lock_text: str, inputs: Sequence[str]) -> str | None:
    """Run on a worker: why it cannot take part in the run (it does not see the output
    folder's lock file as the client wrote it, cannot write there, or cannot read an input),
    or None when it can."""
    fs, lock_path = url_to_fs(lock_url)
    folder = lock_path.rsplit("/", 1)[0]
    try:
        seen = fs.cat_file(lock_path).decode(errors="replace")
    except (OSError, ValueError):
        seen = None
    if seen != lock_text:
        return f"does not see the output folder {folder} this machine writes"
    probe = f"{folder}/.rollscore-probe-{uuid.uuid4().hex}"
    try:
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except (OSError, ValueError) as error:
        return f"cannot write the output folder {folder} ({error})"
    for url in inputs:
        input_fs, path = url_to_fs(url)
        if not input_fs.exists(path):
            return f"cannot read the input {url}, which exists here"
    return None


def check_worker_access(client: Client, output: OutputDir, inputs: Sequence[str]) -> None:
    """Raise :class:`WorkersCannotSee` naming the first worker that does not see the output
    folder or an input as this machine does."""
    lock_url = output.path(LOCK)
    fs, path = url_to_fs(lock_url)
    lock_text = fs.cat_file(path).decode(errors="replace")
    missing = client.run(what_this_worker_misses, lock_url, lock_text, list(inputs))
    for address, why in sorted(missing.items()):
        if why is not None:
            raise WorkersCannotSee(f"worker {address} {why}: {SHARED_FOLDERS}")


def workers_verifier_stack(client: Client) -> VerifierStack:
    """The verifier stack every worker has; raises :class:`VerifierStackChanged` naming two
    workers whose stacks differ."""
    stacks = sorted(client.run(verifier_stack).items())
    (first, stack), *others = stacks
    for address, other in others:
        changes = stack_differences(stack, other)
        if changes:
            raise VerifierStackChanged(
                f"workers {first} and {address} have different verifier stacks "
                f"({'; '.join(changes)}): their verdicts would differ; install one stack"
            )
    return stack
