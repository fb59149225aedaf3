"""Measurement primitives: statistics over raw samples, process memory, host fingerprint."""
