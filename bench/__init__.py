"""rollscore's benchmarks and the synthetic rollout corpus they and the tests use.

Run from the repository's root, e.g. ``python -m bench.bench_pipeline --prompts 500 8000``.
"""
