import pytest

from harness.engine import plan
from harness.errors import BenchError
from harness.scenarios import quality, speed


def test_sweep_is_ordered_so_each_model_loads_once_per_backend_and_threads():
    jobs = plan.as_jobs("speed", speed.sweep(["a", "b"], ["llama_cpp", "onnxruntime"], [1, 2],
                                             [512, 128], [64], repetitions=3, warmup=1,
                                             context_size=256))
    assert [(j.model_id, j.backend, j.threads) for j in jobs][:3] == [
        ("a", "llama_cpp", 1), ("a", "llama_cpp", 2), ("a", "onnxruntime", 1)]
    assert len(jobs) == 8
    # settings ascending in size so memory peaks come last; n_ctx fits the largest
    assert [(s.prompt_tokens, s.gen_tokens) for s in jobs[0].items] == [(128, 64), (512, 64)]
    assert jobs[0].n_ctx == 576
    assert jobs[0].item_key(1) == "llama_cpp-a-t1-p512-g64"


def test_describe_lists_every_worker_and_a_total():
    jobs = plan.as_jobs("speed", speed.sweep(["m"], ["fake"], [1], [8], [4, 8], repetitions=2,
                                             warmup=1, context_size=64))
    lines = plan.describe(jobs)
    assert lines[0] == "  [1/1] m / fake / 1 thread(s): p8/g4, p8/g8 (2 reps + 1 warm-up, n_ctx 64)"
    assert lines[-1] == "  1 worker(s), 2 record(s) to produce"


def test_quality_jobs_list_their_tasks():
    task = {"task": {"name": "ko_mc", "n_items": 30}, "items": []}
    (job,) = plan.as_jobs("quality", [quality.work("m", "llama_cpp", 2, [task], 512)], start=3)
    assert job.index == 3 and job.item_key(0) == "llama_cpp-m-t2-ko_mc"
    assert plan.describe([job])[0].endswith("m / llama_cpp / 2 thread(s): quality: ko_mc (30 items)")


@pytest.mark.parametrize("text", ["", "a,b", "0", "-1", "1,,x"])
def test_bad_lists_are_rejected_naming_the_flag(text):
    with pytest.raises(BenchError, match="--prompt"):
        plan.parse_int_list(text, "--prompt")


def test_list_parsing_dedupes_and_sorts():
    assert plan.parse_int_list("512,128,128", "--prompt") == [128, 512]
