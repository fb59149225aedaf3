"""Scenarios: what is measured, written once on top of the backend protocol."""
