"""lm-evaluation-harness as a front end (the optional `[lmeval]` extra).

Importing harness.lmeval.model registers the model name "sllm-bench" with
lm-evaluation-harness:

    lm_eval.simple_evaluate(model="sllm-bench",
                            model_args="backend=llama_cpp,model=smollm2-135m-instruct-q4_1",
                            tasks=[...])

or from the shell (registers, then hands over to lm-evaluation-harness's CLI):

    sllm-bench-lmeval run --model sllm-bench --model_args backend=llama_cpp,model=... \\
        --tasks arc_easy

Every request batch runs in a freshly spawned harness worker (client.py), through the
same code as the harness's own tasks (harness.scenarios.lmeval).
"""
