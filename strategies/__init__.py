"""Strategies (depends on core only)."""
