"""Lua scripts for a named Redis lease (the clock's leadership, the worker's partitions).

A lease is a key whose value is the holder's name, taken with ``SET key name NX PX ttl``.
Renewing and releasing must check the holder and act in one step, or a holder whose lease
already expired could extend or delete the lease someone else has taken since: hence Lua.
Both take ``KEYS[1]`` = the lease key and ``ARGV[1]`` = the holder's name; register them with
``client.register_script``.
"""

from __future__ import annotations

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
"""Extend the lease by ``ARGV[2]`` milliseconds if ``ARGV[1]`` holds it; return 1, else 0."""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""Delete the lease if ``ARGV[1]`` holds it; return 1, else 0."""
