"""The CI regression gate: compare current run records with a baseline, per metric.

  compare.py         match runs (Record.key) and decide every metric: Run, Report, compare_runs
  stats.py           the statistics of one metric (threshold, Mann-Whitney U, bootstrap)
  config.py          per-metric rules, overridable per device profile and task (gate.yaml)
  report.py          a Report as Markdown (pull-request comment) or JSON
  baselines.py       saved baselines per device profile (results/baselines/<device>)
  pytest_benchmark.py   records in pytest-benchmark's JSON format
  pytest_plugin.py   the `sllm_bench` pytest fixture (entry point pytest11)

The command line (compare, baseline, export-pytest-benchmark) is harness/cli/gate.py.
Only light imports here: the pytest plugin loads this package in every pytest session.
"""
