"""The leaderboard: run records from many machines folded into one versioned JSON file
(harness/schemas/leaderboard.schema.json) and a static page that shows it.

  inputs.py    read and validate records and verdicts; bad files are rejected by name
  build.py     fold records into rows (latest per key) and groups (profile x host x workload)
  evidence.py  what a row says about its model: quality (headline metric and standard
               error), parity of ONNX ports against their GGUF, the profile's quality floors
  rank.py      the ranking rules (which rows are ranked, with the reasons for the others),
               the end-to-end score within a group, the Pareto front
  publish.py   write the static page (page/: index.html with the data embedded, app.js,
               style.css) and the JSON beside it

The command line is harness/cli/leaderboard.py; the rules are written out in
docs/leaderboard.md.
"""
