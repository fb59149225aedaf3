"""The library API: everything the command line does, as function calls.

    from harness import api
    from harness.engine.request import RunRequest

    request = RunRequest(models=("smollm2-135m-instruct-q4_1",), backends=("llama_cpp",),
                         prompts=(128,), gens=(64,), reps=3, tasks=())
    plan = api.plan(request)                 # checked: models, files, backends, tasks
    result = api.execute(plan, out_dir="results/runs")
    for record in result.records:            # harness.records.Record, read-only
        print(record.label(), record.stat("decode_tps"))

plan() checks a RunRequest and lists its jobs; execute() runs them, each in a fresh
worker process, writing one record file per item and handing each record to `sinks` as
it arrives; each scenario then derives its own records from its workers' (determinism
across workers, parity between backends) through the same emit. verify() is execute,
then judge (verdicts, report); parity() is plan, then execute.
"""

from harness.api.builds import *  # noqa: F401,F403  (each module's public functions)
from harness.api.core import *  # noqa: F401,F403
from harness.api.fleet import *  # noqa: F401,F403
