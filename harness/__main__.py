"""`python -m harness` is the same as the `sllm-bench` console script."""

from harness.cli import main

raise SystemExit(main())
