"""Benchmarks (run as scripts: `python bench/fanout.py --help`)."""
