"""`run --resume`: an earlier run folder's request, what it already finished, and the
checks before it goes on (the same models, something left to do)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.engine.request import RunRequest
from harness.engine.session import read_manifest, recorded_models
from harness.errors import DataError


@dataclass(frozen=True)
class ResumeState:
    """An earlier run folder: its request (from run.json, validated like any input) and its
    run id; verified(plan) gives the records it already finished."""

    run_dir: Path
    request: RunRequest
    #: the run's id as its run.json says (the folder may have been renamed)
    run_id: str

    def verified(self, plan) -> frozenset[str]:
        """The finished keys whose records are really this run's (session.verified_keys)."""
        from harness.engine.session import verified_keys

        return frozenset(verified_keys(self.run_dir, self.run_id, plan))

    def check_models(self, plan) -> None:
        """A resumed run never changes model: every record already in the folder must be
        of a model the plan resolves to now, with the same sha256."""
        now = {m.spec.id: m.sha256 for m in plan.models.values()}
        for model_id, (sha, path) in recorded_models(self.run_dir).items():
            if now.get(model_id) != sha:
                have = ", ".join(f"{i} ({s[:12]})" for i, s in now.items())
                raise DataError(f"cannot resume: this run measured model {model_id!r} (sha256 "
                                f"{str(sha)[:12]}..., e.g. {path.name}) but run.json now "
                                f"resolves to {have}; start a new run instead",
                                path=self.run_dir / "run.json")

    def left(self, plan, done: frozenset[str]) -> int:
        """Records of the plan not in `done` (verified(plan)) yet."""
        return sum(j.item_key(i) not in done for j in plan.jobs for i in range(len(j.items)))


def resume_state(run_dir: Path) -> ResumeState:
    """The state of the run folder `run_dir` (DataError when it is not a run folder or its
    request is invalid)."""
    from pydantic import ValidationError

    manifest = read_manifest(run_dir)
    data = manifest["request"]
    try:
        request = RunRequest.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "request"
        raise DataError(f"invalid request in run.json at {where}: {err['msg']}",
                        path=run_dir / "run.json") from None
    run_id = manifest.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise DataError("run.json has no run_id", path=run_dir / "run.json")
    return ResumeState(run_dir, request, run_id)
