"""Benchmarks: one command each (``python -m bench.NAME``); results go to docs/benchmarks.md."""
