"""Benchmark scripts: each prints its figures; see BENCHMARKS.md (issue 7) and the README."""
