"""Helpers for tests that run real processes (the Temporal dev server, the worker)."""
