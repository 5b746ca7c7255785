"""Per-(prompt, answer) sample counts of one data source, and the per-prompt figures pass@k and
maj@k are made from.

A 10-million-row run holds millions of (prompt, answer) entries until its last partition is
scored, so they live in NumPy arrays (20 bytes an entry), merge by sorting, and reduce to
prompts chunk by chunk: memory stays a small multiple of the entries themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from rollscore.pipeline.estimators import Signature

ABSTAINED = np.uint64(0)
"""The answer hash of a sample without an answer (a real answer's hash is never 0)."""
SAMPLES, CORRECT, POSITIVE = range(3)
"""The columns of :attr:`AnswerTallies.tallies`."""
PROMPTS_AT_ONCE = 65_536
"""Prompts whose vote signatures are built from one slice of Python objects."""


@dataclass(frozen=True)
class AnswerTallies:
    """For each (prompt hash, answer hash) entry: its samples, those correct and ended, and
    those with a masked reward above 0 (columns :data:`SAMPLES`, :data:`CORRECT`,
    :data:`POSITIVE` of ``tallies``, up to 2**32 - 1 samples an answer)."""

    prompt: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    answer: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    tallies: np.ndarray = field(default_factory=lambda: np.empty((0, 3), np.uint32))

    def __len__(self) -> int:
        return len(self.prompt)

    @staticmethod
    def of_samples(
        prompt: np.ndarray, answer: np.ndarray, correct: np.ndarray, positive: np.ndarray
    ) -> AnswerTallies:
        """The merged entries of samples given one by one."""
        tallies = np.stack([np.ones(len(prompt)), correct, positive], axis=1).astype(np.uint32)
        return AnswerTallies(prompt.astype(np.uint64), answer.astype(np.uint64), tallies).merged()

    @staticmethod
    def joined(parts: Iterable[AnswerTallies]) -> AnswerTallies:
        """The entries of ``parts`` side by side, not merged."""
        parts = [part for part in parts if len(part)]
        if not parts:
            return AnswerTallies()
        return AnswerTallies(
            np.concatenate([part.prompt for part in parts]),
            np.concatenate([part.answer for part in parts]),
            np.concatenate([part.tallies for part in parts]),
        )

    def merged(self) -> AnswerTallies:
        """One entry per (prompt, answer), sorted by prompt then answer."""
        if not len(self):
            return self
        order = np.lexsort((self.answer, self.prompt))
        prompt, answer = self.prompt[order], self.answer[order]
        starts = _run_starts(prompt, answer)
        tallies = np.add.reduceat(self.tallies[order], starts, axis=0, dtype=np.uint32)
        return AnswerTallies(prompt[starts], answer[starts], tallies)


@dataclass
class PromptTallies:
    """What pass@k and maj@k of some prompts are made from; those of disjoint prompts add up."""

    prompts: int = 0
    positive: int = 0
    """Prompts with a sample whose masked reward is above 0."""
    most: int = 0
    """The most samples any prompt has."""
    counts: Counter[tuple[int, int]] = field(default_factory=Counter)
    """Prompts by (samples, correct samples)."""
    signatures: Counter[Signature] = field(default_factory=Counter)
    """Prompts by vote signature."""

    def __add__(self, other: PromptTallies) -> PromptTallies:
        return PromptTallies(
            self.prompts + other.prompts,
            self.positive + other.positive,
            max(self.most, other.most),
            self.counts + other.counts,
            self.signatures + other.signatures,
        )


def prompt_tallies(entries: AnswerTallies) -> PromptTallies:
    """The per-prompt figures of merged ``entries`` (each prompt's answers all among them)."""
    if not len(entries):
        return PromptTallies()
    answered = entries.answer != ABSTAINED
    samples = entries.tallies[:, SAMPLES]
    voted_right = entries.tallies[:, CORRECT] > 0
    # per prompt: its abstentions first, then its answers in a signature's order
    order = np.lexsort((voted_right, samples, answered, entries.prompt))
    prompt = entries.prompt[order]
    starts = _run_starts(prompt)
    per_prompt = np.add.reduceat(entries.tallies[order], starts, axis=0, dtype=np.int64)
    pairs, prompts = np.unique(per_prompt[:, [SAMPLES, CORRECT]], axis=0, return_counts=True)
    return PromptTallies(
        prompts=len(starts),
        positive=int((per_prompt[:, POSITIVE] > 0).sum()),
        most=int(per_prompt[:, SAMPLES].max()),
        counts=Counter({(int(n), int(c)): int(k) for (n, c), k in zip(pairs, prompts)}),
        signatures=_signature_counts(starts, samples[order], voted_right[order], answered[order]),
    )


def _signature_counts(
    starts: np.ndarray, samples: np.ndarray, voted_right: np.ndarray, answered: np.ndarray
) -> Counter[Signature]:
    """Prompts by signature, each prompt's entries from ``starts`` on in a signature's order;
    Python objects are made for :data:`PROMPTS_AT_ONCE` prompts at a time."""
    signatures: Counter[Signature] = Counter()
    ends = np.append(starts[1:], len(samples))
    for first in range(0, len(starts), PROMPTS_AT_ONCE):
        low, high = int(starts[first]), int(ends[min(first + PROMPTS_AT_ONCE, len(starts)) - 1])
        votes = samples[low:high].tolist()
        rights = voted_right[low:high].tolist()
        answers = answered[low:high].tolist()
        bounds = (starts[first : first + PROMPTS_AT_ONCE] - low).tolist()
        for start, end in zip(bounds, [*bounds[1:], high - low]):
            abstained = 0
            if not answers[start]:
                abstained, start = votes[start], start + 1
            signatures[(abstained, tuple(zip(votes[start:end], rights[start:end])))] += 1
    return signatures


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys begins, in arrays sorted by them."""
    changed = np.zeros(len(keys[0]), dtype=bool)
    changed[:1] = True
    for key in keys:
        changed[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(changed)
