"""The run rules read from a store's event log: which run is going on now, which one the next run resumes."""

import pytest

from restoration.store.runs import active_run, unfinished_run

A = {"kind": "run_started", "run_id": "a"}
B = {"kind": "run_started", "run_id": "b"}
UNNAMED = {"kind": "run_started"}


@pytest.mark.parametrize(
    "events, active, unfinished",
    [
        ([], None, None),
        ([A], A, A),  # going on, or killed: no closing event either way
        ([A, {"kind": "run_finished", "run_id": "a"}], None, None),
        ([A, {"kind": "run_failed", "run_id": "a"}], None, A),  # over, but the next run resumes it
        ([A, B, {"kind": "run_finished", "run_id": "a"}], B, B),  # a closing event closes its own run
        ([A, B, {"kind": "run_failed", "run_id": "b"}], A, B),
        ([A, B, {"kind": "run_failed"}], A, B),  # no run_id: the latest open run
        ([UNNAMED, {"kind": "run_finished"}], None, None),
        ([A, {"kind": "run_failed", "run_id": "a"}, B], B, B),
        ([{"kind": "run_finished"}, {"kind": "frame_flagged", "frame": 3}], None, None),
    ],
)
def test_active_and_unfinished_run_on_the_same_events(events, active, unfinished):
    assert active_run(events) is active
    assert unfinished_run(events) is unfinished
