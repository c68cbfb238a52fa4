"""Reliability suite: kill -9, restarts, hostile input, tampering, contention (issue 9)."""
