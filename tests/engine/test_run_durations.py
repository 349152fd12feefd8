"""A run's duration is the same in every view: ``run_finished``'s ``duration_s`` and
`RunRecord.elapsed` (the dashboard's clock) both count from the start of the setup, which
``run_started`` places at ``time - setup_s``. (A real run's events: `tests/engine/test_runner.py`.)
"""

import pytest

from kerasdl.events.record import RunRecord

T0 = 1_767_225_600.0


def _started(time, **fields):
    return {"schema": 1, "type": "run_started", "time": time, "run_id": "r", **fields}


def _epoch(time, epoch):
    return {"schema": 1, "type": "epoch_ended", "time": time, "run_id": "r", "epoch": epoch}


def _finished(time, duration_s):
    return {
        "schema": 1,
        "type": "run_finished",
        "time": time,
        "run_id": "r",
        "status": "completed",
        "duration_s": duration_s,
    }


def test_elapsed_counts_from_the_start_of_the_setup():
    record = RunRecord()
    record.apply(_started(T0, setup_s=2.5))
    assert record.elapsed(T0) == pytest.approx(2.5)  # the setup before run_started counts
    record.apply(_epoch(T0 + 10.0, 1))
    assert record.elapsed(T0 + 10.0) == pytest.approx(12.5)
    assert record.elapsed(T0 + 20.0) == pytest.approx(22.5)


def test_elapsed_at_run_finished_is_its_duration():
    record = RunRecord()
    record.apply(_started(T0, setup_s=2.5))
    live = record.elapsed(T0 + 30.0)  # the clock just before the run ends
    record.apply(_finished(T0 + 30.0, duration_s=32.5))  # what the runner measures
    assert record.elapsed(T0 + 30.0) == live == pytest.approx(32.5) == record.duration_s
    assert record.elapsed(T0 + 99.0) == pytest.approx(32.5)  # over: the clock stops


def test_a_resumed_part_counts_its_own_setup():
    record = RunRecord()
    record.apply(_started(T0, setup_s=2.0))
    record.apply(_finished(T0 + 8.0, duration_s=10.0))
    record.apply(_started(T0 + 100.0, setup_s=3.0))
    assert record.elapsed(T0 + 105.0) == pytest.approx(10.0 + 8.0)
    record.apply(_finished(T0 + 110.0, duration_s=13.0))
    assert record.elapsed(T0 + 110.0) == pytest.approx(23.0) == record.duration_s


@pytest.mark.parametrize("setup_s", [None, "soon", -1.0, float("nan")])
def test_a_run_started_without_a_usable_setup_s_counts_from_its_time(setup_s):
    fields = {} if setup_s is None else {"setup_s": setup_s}
    record = RunRecord()
    record.apply(_started(T0, **fields))  # an older kerasdl's, or a damaged one
    assert record.elapsed(T0 + 10.0) == pytest.approx(10.0)
