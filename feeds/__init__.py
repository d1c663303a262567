"""Feeds (depends on core only)."""
