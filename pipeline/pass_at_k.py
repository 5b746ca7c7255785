"""The unbiased pass@k estimator: the chance that k samples drawn from n, of which c are
correct, include a correct one: ``1 - C(n - c, k) / C(n, k)``.

One policy for both the offline metrics and the training adapter: k runs over the powers of two
up to the most samples any prompt has, and pass@k averages over the prompts with at least k.
"""

from __future__ import annotations

from collections.abc import Iterable


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


def pass_at_k_sums(counts: Iterable[tuple[int, int]]) -> dict[int, tuple[float, int]]:
    """For each k of :func:`k_values` of the largest group: the sum of pass@k over the prompts
    with at least k samples, and how many prompts that is. ``counts`` holds ``(n, c)`` per
    prompt; the sums of several batches of prompts add up to those of all of them."""
    counts = list(counts)
    sums: dict[int, tuple[float, int]] = {}
    for k in k_values(max((n for n, _ in counts), default=0)):
        eligible = [pass_at_k(n, c, k) for n, c in counts if n >= k]
        sums[k] = (sum(eligible), len(eligible))
    return sums


def mean_pass_at_k(counts: Iterable[tuple[int, int]]) -> dict[int, float]:
    """pass@k for each k of :func:`k_values`, averaged over the prompts with at least k samples."""
    return {k: total / prompts for k, (total, prompts) in pass_at_k_sums(counts).items()}
