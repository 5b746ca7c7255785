"""Per-prompt estimators over a prompt's samples, one policy for the offline metrics and the
training adapter: k runs over the powers of two up to the most samples any prompt has, and each
estimate averages over the prompts with at least k samples.

- pass@k, unbiased: the chance that k samples drawn from n, of which c are correct, include a
  correct one: ``1 - C(n - c, k) / C(n, k)``.
- maj@k, exact: the chance that the majority answer of k samples drawn from n is a correct one.
  Samples vote with their extracted answer, compared after trimming and collapsing whitespace
  (:func:`vote_key`); a sample without an answer abstains, and k abstentions are no answer
  (incorrect). An answer is correct when one of its samples is. Answers tied for the most votes
  share the win evenly, so a tie between a right and a wrong answer counts half.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from math import comb

Signature = tuple[int, tuple[tuple[int, bool], ...]]
"""A prompt's votes: ``(abstentions, ((votes, correct), ...))``, answers in sorted order, so
prompts that voted alike share one signature (and one maj@k)."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k for one prompt with ``n`` samples, ``c`` correct; requires ``k <= n``."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i), exact and free of overflow
    ratio = 1.0
    for i in range(n - c + 1, n + 1):
        ratio *= 1.0 - k / i
    return 1.0 - ratio


def k_values(samples_per_prompt: int) -> list[int]:
    """1, 2, 4, ... up to ``samples_per_prompt``."""
    ks, k = [], 1
    while k <= samples_per_prompt:
        ks.append(k)
        k *= 2
    return ks


def pass_at_k_sums(counts: Iterable[tuple[tuple[int, int], int]]) -> dict[int, tuple[float, int]]:
    """For each k of :func:`k_values` of the largest group: the sum of pass@k over the prompts
    with at least k samples, and how many prompts that is. ``counts`` holds each distinct
    ``(n, c)`` with the number of prompts that have it; the sums of several batches of prompts
    add up to those of all of them."""
    counts = list(counts)
    sums: dict[int, tuple[float, int]] = {}
    for k in k_values(max((n for (n, _), _ in counts), default=0)):
        eligible = [(n, c, prompts) for (n, c), prompts in counts if n >= k]
        total = sum(pass_at_k(n, c, k) * prompts for n, c, prompts in eligible)
        sums[k] = (total, sum(prompts for _, _, prompts in eligible))
    return sums


def mean_pass_at_k(counts: Iterable[tuple[int, int]]) -> dict[int, float]:
    """pass@k for each k of :func:`k_values`, averaged over the prompts with at least k samples;
    ``counts`` holds ``(n, c)`` per prompt."""
    return _means(pass_at_k_sums(sorted(Counter(counts).items())))


def mean_majority_at_k(signatures: Iterable[Signature]) -> dict[int, float]:
    """maj@k for each k of :func:`k_values`, averaged over the prompts with at least k samples;
    ``signatures`` holds one :func:`signature` per prompt."""
    return _means(majority_at_k_sums(sorted(Counter(signatures).items())))


def _means(sums: dict[int, tuple[float, int]]) -> dict[int, float]:
    return {k: total / prompts for k, (total, prompts) in sums.items()}


def vote_key(answer: object) -> str | None:
    """What an extracted answer votes for: its text with whitespace trimmed and collapsed; None
    (an abstention) for no answer or an empty one."""
    if not isinstance(answer, str):
        return None
    return " ".join(answer.split()) or None


def signature(votes: Iterable[tuple[str | None, bool]]) -> Signature:
    """The signature of one prompt's samples, each given as ``(vote_key, correct)``."""
    abstentions, answers = 0, {}
    for key, correct in votes:
        if key is None:
            abstentions += 1
        else:
            count, any_correct = answers.get(key, (0, False))
            answers[key] = (count + 1, any_correct or bool(correct))
    return abstentions, tuple(sorted(answers.values()))


@lru_cache(maxsize=65_536)
def majority_at_k(signature: Signature, k: int) -> float:
    """maj@k of a prompt with this :data:`Signature` (see the module's docstring); requires
    ``k <= n``. Exact: over every way to draw the k samples, by counting, not enumerating."""
    abstentions, answers = signature
    n = abstentions + sum(votes for votes, _ in answers)
    if k > n:
        raise ValueError(f"maj@{k} needs at least {k} samples, got {n}")
    won = 0.0
    for index, (votes, correct) in enumerate(answers):
        if not correct:
            continue
        others = answers[:index] + answers[index + 1 :]
        for top in range(1, min(votes, k) + 1):  # this answer draws `top` votes, the most
            ways = _ways_below(others, abstentions, top, k - top)
            won += comb(votes, top) * sum(count / (1 + tied) for tied, count in ways.items())
    return won / comb(n, k)


def _ways_below(
    others: tuple[tuple[int, bool], ...], abstentions: int, top: int, draws: int
) -> dict[int, int]:
    """Ways to draw ``draws`` samples from the other answers and the abstentions so that no
    other answer gets more than ``top`` votes, by how many others tie at ``top``."""
    # ways[(drawn, tied)]: ways to draw `drawn` from the answers so far, `tied` of them at `top`
    ways: dict[tuple[int, int], int] = {(0, 0): 1}
    for votes, _ in others:
        grown: dict[tuple[int, int], int] = {}
        for (drawn, tied), count in ways.items():
            for take in range(min(votes, top, draws - drawn) + 1):
                key = (drawn + take, tied + (take == top))
                grown[key] = grown.get(key, 0) + count * comb(votes, take)
        ways = grown
    by_tied: dict[int, int] = {}
    for (drawn, tied), count in ways.items():
        rest = draws - drawn
        if rest <= abstentions:
            by_tied[tied] = by_tied.get(tied, 0) + count * comb(abstentions, rest)
    return by_tied


def majority_at_k_sums(signatures: Iterable[tuple[Signature, int]]) -> dict[int, tuple[float, int]]:
    """For each k of :func:`k_values` of the largest prompt: the sum of maj@k over the prompts
    with at least k samples, and how many there are; ``signatures`` holds each distinct
    signature with the number of prompts that have it."""
    signatures = list(signatures)
    sizes = {sign: sign[0] + sum(votes for votes, _ in sign[1]) for sign, _ in signatures}
    sums: dict[int, tuple[float, int]] = {}
    for k in k_values(max(sizes.values(), default=0)):
        eligible = [(sign, prompts) for sign, prompts in signatures if sizes[sign] >= k]
        total = sum(majority_at_k(sign, k) * prompts for sign, prompts in eligible)
        sums[k] = (total, sum(prompts for _, prompts in eligible))
    return sums
