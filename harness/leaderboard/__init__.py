"""The leaderboard: run records from many machines folded into one versioned JSON file
(harness/schemas/leaderboard.schema.json) and a static page that shows it.

  inputs.py    read and validate records and verdicts; bad files are rejected by name
  build.py     fold records into rows (latest per key), score and rank them
  publish.py   write the static page (page/: index.html, app.js, style.css) and the JSON

The command line is harness/cli/leaderboard.py.
"""
