"""Stop signals: the flag a trainer checks between steps, and Snakemake's process handing the
signal on to the trainings it runs (and to no other run's)."""

import os
import signal

import pytest
from conftest import training_lock_holder

from rvc_pipeline.locks import holder_pid
from rvc_pipeline.stopping import StopRequested, forward_to_trainers, stop_on_signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_sets_the_flag_instead_of_ending_the_process(signum):
    before = signal.getsignal(signum)
    with stop_on_signals() as stop:
        stop.check()  # nothing yet
        os.kill(os.getpid(), signum)
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal does not change the first
        with pytest.raises(StopRequested) as stopped:
            stop.check()
    assert stopped.value.signum == signum and stopped.value.exit_status == 128 + signum
    assert signal.getsignal(signum) is before


def test_the_signal_goes_on_to_this_groups_trainer_only(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    with training_lock_holder(ours) as trainer, training_lock_holder(theirs, new_session=True) as other:
        assert holder_pid(ours) == trainer.pid and holder_pid(theirs) == other.pid
        assert forward_to_trainers([ours, theirs, tmp_path / "never_trained"], signal.SIGTERM) == [trainer.pid]
        assert trainer.wait(timeout=30) == -signal.SIGTERM
        assert other.poll() is None
