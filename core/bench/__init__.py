"""Benchmarks of the engine against plain references, run in the same process.

``flow`` generates deterministic order flows, ``reference`` holds the plain reference
implementations, ``matching`` times the engine's book against the reference. Nothing here
imports ``tui`` (the CLI in ``tui/commands/bench.py`` only formats what these return).
"""
