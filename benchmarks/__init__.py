"""Benchmarks: one script per figure; results land in benchmarks/results and BENCHMARKS.md."""
