"""Benchmarks of imagebot on the loopback stand-ins: `python -m bench` (see bench/run.py)."""
