"""The engine: a RunRequest becomes a plan of jobs, each job runs in a fresh worker, and
every record goes out through one emit path (session.py). See harness/api.py for the
calls to use."""
