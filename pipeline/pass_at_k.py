"""The unbiased pass@k estimator: the chance that k samples drawn from n, of which c are
correct, include a correct one: ``1 - C(n - c, k) / C(n, k)``."""

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


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> tuple[float, int]:
    """The sum of pass@k over the prompts with at least k samples, and how many there were."""
    total, prompts = 0.0, 0
    for n, c in counts:
        if n >= k:
            total += pass_at_k(n, c, k)
            prompts += 1
    return total, prompts
