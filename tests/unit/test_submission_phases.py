"""A submission's handle exists from its first moment: its phase follows the build (or the
upload of a code package), the creates, and the end; a failure keeps its reason."""

from __future__ import annotations

import pytest

from caliban_jupyter import events as ev
from caliban_jupyter.errors import BuildError
from caliban_jupyter.service import submission
from caliban_jupyter.service.groups import JobGroup
from caliban_jupyter.service.plan import CloudRequest, plan_from_request


@pytest.fixture
def plan(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    return plan_from_request(CloudRequest(module="train.py", cwd=str(tmp_path), nogpu=True,
                                          backend="local", build="package", xgroup="ph",
                                          env={}))


def test_the_phase_follows_the_submission(plan, monkeypatch):
    seen = []
    group = JobGroup.planned(plan.xgroup, plan.settings)
    assert (group.phase, group.records) == ("planned", [])

    def execute(plan, progress):
        seen.append(group.phase)
        progress(ev.JobSubmitted(1, 1, "job_1", "r", "u"))
        seen.append(group.phase)
        from support import job_record

        return [job_record(1, "QUEUED", xgroup="ph-2")]

    monkeypatch.setattr(submission, "execute", execute)
    assert submission.submit(plan, group=group) is group
    assert seen == ["uploading", "submitting"]  # a code package is uploaded, not built
    assert (group.phase, group.xgroup, [r.state for r in group.records]) == (
        "submitted", "ph-2", ["QUEUED"])


def test_a_failure_is_a_phase_with_its_reason(plan, monkeypatch):
    def execute(plan, progress):
        raise BuildError("step 2/5 failed")

    monkeypatch.setattr(submission, "execute", execute)
    group = JobGroup.planned(plan.xgroup, plan.settings)
    with pytest.raises(BuildError):
        submission.submit(plan, group=group)
    assert (group.phase, group.error) == ("failed", "step 2/5 failed")
    with pytest.raises(ValueError, match="unknown phase"):
        group.advance("teleporting")
