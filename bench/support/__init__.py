"""Helpers shared by the end-to-end benchmarks: processes, a load generator, statistics."""
