"""Kaizen benchmarks: one harness (``python -m bench.run``) measuring every figure of issue 7
next to its baseline in the same run. See ``bench/README.md``."""
