"""What makes a loop resumable (augrepro.train.resumable): the resume file refuses a file of another kind, version
or identity, naming what differs; SIGTERM sets the stop flag; a non-finite loss stops the loop naming its step."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from augrepro.runs import PREEMPTED_EXIT_CODE
from augrepro.train.resumable import NonFiniteLossError, Preempted, ResumeFile, StopFlag, check_finite


def test_the_resume_file_round_trips_its_state_and_identity(tmp_path):
    file = ResumeFile(tmp_path / "resume.pt", "training", 1, {"run": {"seed": 1, "recipe": {"lr": 0.1}}})
    assert file.load("cpu") is None and not file.exists()
    file.save({"epoch": 3, "weights": torch.arange(4.0)})
    state = file.load("cpu")
    assert state["epoch"] == 3 and torch.equal(state["weights"], torch.arange(4.0))
    assert state["format"] == {"kind": "training", "version": 1} and state["run"]["recipe"]["lr"] == 0.1
    assert [p.name for p in tmp_path.iterdir()] == ["resume.pt"]  # written to a temporary name, then renamed
    file.remove()
    assert not file.exists()


def test_a_resume_file_of_another_kind_version_or_identity_is_refused_naming_what_differs(tmp_path):
    path = tmp_path / "resume.pt"
    ResumeFile(path, "training", 1, {"run": {"seed": 1}}).save({"epoch": 1})
    with pytest.raises(RuntimeError, match="resume file of training, not of detection: delete it"):
        ResumeFile(path, "detection", 1, {"run": "x"}).load("cpu")
    with pytest.raises(RuntimeError, match="version 1 of the training resume file, but this augrepro reads version 2"):
        ResumeFile(path, "training", 2, {"run": {"seed": 1}}).load("cpu")
    with pytest.raises(RuntimeError, match=r"different configuration \(run.seed is 1 in the file, 2 here\); delete"):
        ResumeFile(path, "training", 1, {"run": {"seed": 2}}).load("cpu")
    with pytest.raises(RuntimeError, match=r"run.lr is absent in the file, 0.1 here"):
        ResumeFile(path, "training", 1, {"run": {"seed": 1, "lr": 0.1}}).load("cpu")


def test_a_resume_file_without_a_format_is_version_1_of_the_jobs_kind(tmp_path):
    """The files written before the format was recorded still resume."""
    path = tmp_path / "resume.pt"
    torch.save({"run": {"seed": 1}, "epoch": 2}, path)
    assert ResumeFile(path, "training", 1, {"run": {"seed": 1}}).load("cpu")["epoch"] == 2
    with pytest.raises(RuntimeError, match="version 1 of the training resume file"):
        ResumeFile(path, "training", 2, {"run": {"seed": 1}}).load("cpu")


def test_sigterm_sets_the_stop_flag_and_the_previous_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with StopFlag() as stop:
        assert not stop.anywhere()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.anywhere()
    assert signal.getsignal(signal.SIGTERM) is before


def test_preempted_exits_with_the_requeue_code_and_says_where_it_stopped(tmp_path):
    exc = Preempted.saved("after epoch 3", tmp_path / "resume.pt")
    assert exc.exit_code == PREEMPTED_EXIT_CODE == 143
    assert str(exc).startswith("SIGTERM after epoch 3: state saved to ") and "exiting with code 143" in str(exc)


def test_a_non_finite_loss_stops_naming_its_first_step_and_the_advice():
    check_finite(torch.tensor([1.0, 2.0]), lambda i: f"step {i + 1}", "lower the lr")
    with pytest.raises(
        NonFiniteLossError, match=r"loss became nan at step 2; stopping without writing outputs \(lower"
    ):
        check_finite(torch.tensor([1.0, float("nan"), float("inf")]), lambda i: f"at step {i + 1}", "lower the lr")
