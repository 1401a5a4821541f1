"""The run's last lines: one per experiment, and which of them fail the run."""

from __future__ import annotations

from pathlib import Path

from rvc_pipeline.run_summary import experiment_outcomes


def _touch(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("x")


def test_each_experiment_gets_one_line_and_only_missing_models_fail(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _touch("results/done/weights/done.pth")
    _touch("results/stale/weights/stale.pth")
    _touch("results/stale/filelist.txt")
    _touch("results/nolist/sources.txt")
    outcomes = experiment_outcomes(
        ["done", "stale", "nolist", "later", "empty", "busy", "afile"],
        untrainable={"empty": "input_dir 'nothing' holds no recordings", "afile": "input_dir 'a.wav' is a file, not a folder"},
        busy={"busy"},
        requested={"done", "stale", "nolist", "busy"},
        unfinished={"stale", "nolist"},
        failures={"afile": "input_dir 'a.wav' is a file, not a folder"},
    )
    assert [(o.line, o.missing_model) for o in outcomes] == [
        ("done: trained: results/done/weights/done.pth", False),
        (
            "stale: NO MODEL: training did not finish (see results/stale/logs/train_model.log); "
            "results/stale/weights/stale.pth is an earlier run's model",
            True,
        ),
        ("nolist: NO MODEL: its training inputs were not written (see results/nolist/logs/write_filelist.log)", True),
        ("later: no model yet (this run's targets stop before training)", False),
        ("empty: not trained: input_dir 'nothing' holds no recordings", False),
        ("busy: not trained by this run: another run is training it", False),
        ("afile: not trained: input_dir 'a.wav' is a file, not a folder", True),
    ]


def test_waiting_timers_are_cancelled_so_the_process_ends_at_once():
    import threading
    import time

    from rvc_pipeline.run_summary import cancel_waiting_timers

    fired = []
    timers = [threading.Timer(30.0, fired.append, args=(n,)) for n in range(2)]
    for timer in timers:
        timer.start()
    started = time.monotonic()
    assert cancel_waiting_timers() == 2
    for timer in timers:
        timer.join(5.0)
    assert not any(timer.is_alive() for timer in timers) and fired == []
    assert time.monotonic() - started < 5.0
    assert cancel_waiting_timers() == 0
