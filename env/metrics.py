"""The metrics of a global rollout batch: NeMo-RL's set, overall and per data source; and when
the batch says which samples are correct, the fraction correct, the unbiased pass@k and, when it
also holds each sample's extracted answer under ``answers`` (a list, as a step with
``return_extracted_answer=True`` gives them), maj@k. pass@k and maj@k follow
:mod:`rollscore.pipeline.estimators`.

*Correct* means what it means in the offline metrics: the rewards' correctness flag says so
(the batch's ``correct`` entry, a boolean tensor or list, for example the step's observations
read back) and the sample ended properly. A batch without that entry says nothing about
correctness, so it gets none of the figures made from it. NeMo-RL's own
``pass@samples_per_prompt`` counts samples with a reward above 0, and its
``correct_solution_generation_lengths`` samples with a reward of exactly 1, as NeMo-RL does.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

import torch
from rollscore.pipeline.estimators import mean_majority_at_k, mean_pass_at_k, signature, vote_key
from rollscore.pipeline.metrics import NO_SOURCE

Metrics = dict[str, float | int]


def global_post_process_and_metrics(
    batch: MutableMapping[str, Any],
) -> tuple[MutableMapping[str, Any], Metrics]:
    """Mask the rewards of samples that did not end properly (``rewards * is_end``, written
    back into ``batch``) and compute the batch's metrics; returns ``(batch, metrics)``."""
    if not batch:
        return batch, _empty_metrics()
    rewards = batch["rewards"] * batch["is_end"]
    batch["rewards"] = rewards
    samples = rewards.numel()
    if samples == 0:
        return batch, _empty_metrics()
    rewards = rewards.double()
    ended = batch["is_end"].bool()
    correct = _correct(batch, ended)
    prompts = _group_ids(batch["text"], samples, "text", rewards.device)
    generation = batch["generation_lengths"].double()
    prompt_lengths = batch["prompt_lengths"].double()
    solved = rewards == 1
    metrics: Metrics = {
        "accuracy": rewards.mean().item(),
        "pass@samples_per_prompt": _fraction_of_groups_with(prompts, rewards > 0),
        "fraction_of_samples_properly_ended": ended.double().mean().item(),
        "num_problems_in_batch": samples,
        "generation_lengths": generation.mean().item(),
        "prompt_lengths": prompt_lengths.mean().item(),
        "correct_solution_generation_lengths": (
            (generation - prompt_lengths)[solved].mean().item() if bool(solved.any()) else 0
        ),
    }
    votes = _votes(batch, samples)
    if correct is not None:
        metrics["fraction_correct"] = correct.double().mean().item()
        metrics.update(_pass_at_ks(prompts, correct))
        if votes is not None:
            metrics.update(_majority_at_ks(prompts, votes, correct))
    if "data_source" in batch:
        metrics.update(_by_data_source(batch["data_source"], rewards, correct, prompts, votes))
    return batch, metrics


def _empty_metrics() -> Metrics:
    """The metrics of a batch without samples: zeros, so logging never has to special-case it."""
    return {
        "accuracy": 0.0,
        "pass@samples_per_prompt": 0.0,
        "fraction_of_samples_properly_ended": 0.0,
        "num_problems_in_batch": 0,
        "generation_lengths": 0.0,
        "prompt_lengths": 0.0,
        "correct_solution_generation_lengths": 0,
    }


def _correct(batch: MutableMapping[str, Any], ended: torch.Tensor) -> torch.Tensor | None:
    """Which samples are correct (see the module's docstring), as a boolean tensor; None when
    the batch does not say."""
    if batch.get("correct") is None:
        return None
    correct = torch.as_tensor(batch["correct"], device=ended.device).bool()
    if correct.numel() != ended.numel():
        raise ValueError(
            f"batch['correct'] has {correct.numel()} entries for {ended.numel()} samples"
        )
    return correct & ended


def _group_ids(
    keys: torch.Tensor | Sequence[Any], samples: int, name: str, device: torch.device
) -> torch.Tensor:
    """Each sample's group (0, 1, ...; equal keys share one): keys are the rows of a tensor
    (for example padded prompt token ids) or the items of a list (for example prompt text)."""
    if isinstance(keys, torch.Tensor):
        ids = torch.unique(keys, dim=0, return_inverse=True)[1]
    else:
        index: dict[Any, int] = {}
        ids = torch.tensor([index.setdefault(key, len(index)) for key in keys], dtype=torch.long)
    if len(ids) != samples:
        raise ValueError(f"batch[{name!r}] has {len(ids)} entries for {samples} samples")
    return ids.to(device)


def _fraction_of_groups_with(groups: torch.Tensor, flags: torch.Tensor) -> float:
    """The fraction of the groups present that hold at least one flagged sample."""
    present = torch.bincount(groups) > 0
    hits = torch.bincount(groups, weights=flags.double())
    return (hits[present] > 0).double().mean().item()


def _pass_at_ks(groups: torch.Tensor, correct: torch.Tensor) -> Metrics:
    """The unbiased pass@k for k = 1, 2, 4, ... up to the most samples of one prompt, each
    averaged over the prompts with at least k samples."""
    samples = torch.bincount(groups).tolist()
    solved = torch.bincount(groups, weights=correct.double()).round().long().tolist()
    counts = [(n, c) for n, c in zip(samples, solved) if n > 0]
    return {f"pass@{k}": value for k, value in mean_pass_at_k(counts).items()}


def _votes(batch: MutableMapping[str, Any], samples: int) -> list[str | None] | None:
    """Each sample's vote (:func:`~rollscore.pipeline.estimators.vote_key` of its ``answers``
    entry), or None when the batch has no answers."""
    if batch.get("answers") is None:
        return None
    answers = list(batch["answers"])
    if len(answers) != samples:
        raise ValueError(f"batch['answers'] has {len(answers)} entries for {samples} samples")
    return [vote_key(answer) for answer in answers]


def _majority_at_ks(
    groups: torch.Tensor, votes: Sequence[str | None], correct: torch.Tensor
) -> Metrics:
    """maj@k for k = 1, 2, 4, ... up to the most samples of one prompt, each averaged over the
    prompts with at least k samples."""
    by_group: dict[int, list[tuple[str | None, bool]]] = {}
    for group, vote, right in zip(groups.tolist(), votes, correct.tolist()):
        by_group.setdefault(group, []).append((vote, right))
    majorities = mean_majority_at_k(signature(members) for members in by_group.values())
    return {f"maj@{k}": value for k, value in majorities.items()}


def _by_data_source(
    data_sources: Sequence[object],
    rewards: torch.Tensor,
    correct: torch.Tensor | None,
    prompts: torch.Tensor,
    votes: Sequence[str | None] | None,
) -> Metrics:
    """Accuracy of each data source, and its fraction correct, pass@k and maj@k when the batch
    says which samples are correct, as ``"<source>/<metric>"``."""
    names = [source if isinstance(source, str) else NO_SOURCE for source in data_sources]
    sources = _group_ids(names, len(rewards), "data_source", rewards.device)
    metrics: Metrics = {}
    for index, name in enumerate(dict.fromkeys(names)):
        mask = sources == index
        metrics[f"{name}/num_problems_in_batch"] = int(mask.sum())
        metrics[f"{name}/accuracy"] = rewards[mask].mean().item()
        if correct is None:
            continue
        metrics[f"{name}/fraction_correct"] = correct[mask].double().mean().item()
        for key, value in _pass_at_ks(prompts[mask], correct[mask]).items():
            metrics[f"{name}/{key}"] = value
        if votes is not None:
            chosen = [vote for vote, keep in zip(votes, mask.tolist()) if keep]
            for key, value in _majority_at_ks(prompts[mask], chosen, correct[mask]).items():
                metrics[f"{name}/{key}"] = value
    return metrics
