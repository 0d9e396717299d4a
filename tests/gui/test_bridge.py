"""The engine seam on its own: results go back to the call that asked, newer jobs replace waiting ones, partial
results stream in order, cancelled work delivers nothing, a task's events reach only its owner, and
shutting down never waits on a job that checks its token."""

from __future__ import annotations

import threading
import time

import pytest

from app.bridge import EngineBridge
from engine.events import Finished, Progress, Snapshot
from engine.tasks import CancelToken


@pytest.fixture
def bridge(qtbot):
    b = EngineBridge()
    yield b
    b.shutdown(timeout=10)


def test_each_result_goes_back_to_its_own_call(bridge, qtbot):
    got: dict[str, object] = {}
    bridge.submit(lambda: 1 + 1, on_done=lambda v: got.setdefault("a", v))
    bridge.submit(lambda: "x" * 3, on_done=lambda v: got.setdefault("b", v))
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5_000)
    assert got == {"a": 2, "b": "xxx"}


def test_a_newer_job_replaces_a_waiting_one_of_the_same_key(bridge, qtbot):
    gate, done, ended = threading.Event(), [], []
    bridge.submit(lambda: gate.wait(5))  # keeps the engine busy while the next two wait
    first = bridge.submit(lambda: "old", key="k", on_done=done.append, on_end=lambda j: ended.append(j.state))
    bridge.submit(lambda: "new", key="k", on_done=done.append)
    assert first.state == "superseded" and ended == ["superseded"]
    gate.set()
    qtbot.waitUntil(lambda: done == ["new"], timeout=5_000)


def test_partial_results_stream_in_order_before_the_result(bridge, qtbot):
    seen: list[object] = []

    def work(token: CancelToken) -> str:
        for i in range(300):
            token.report(i)
            if i % 50 == 0:
                time.sleep(0.06)  # spread over several drains
        return "end"

    bridge.submit(work, on_partial=seen.extend, on_done=seen.append)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] == "end", timeout=10_000)
    assert seen == [*range(300), "end"]


def test_a_cancelled_job_stops_and_delivers_nothing(bridge, qtbot):
    started, done, states = threading.Event(), [], []

    def work(token: CancelToken) -> str:
        started.set()
        while True:
            token.check()  # raises Cancelled once cancelled
            time.sleep(0.01)

    job = bridge.submit(work, on_done=done.append, on_end=lambda j: states.append(j.state))
    assert started.wait(5)
    bridge.cancel(job)
    qtbot.waitUntil(lambda: states == ["cancelled"], timeout=5_000)
    assert not done and bridge.idle()


def test_a_task_gives_its_events_to_its_owner_newest_snapshot_only(bridge, qtbot):
    events: list[object] = []
    ended: list[object] = []

    def make(token: CancelToken):
        for step in range(1, 201):
            yield Progress(step, 200, 0.0, 0.0, {"loss": 1.0 / step})
            yield Snapshot(step, step)  # a picture each step: only the newest waiting one matters
        yield Finished({"steps": 200})

    task = bridge.start_task("t", make, on_events=events.extend, on_finished=lambda f, e: ended.append((f, e)))
    assert task is not None and bridge.start_task("u", make) is None  # one task at a time
    qtbot.waitUntil(lambda: bool(ended), timeout=10_000)
    progress = [e.step for e in events if isinstance(e, Progress)]
    snaps = [e.step for e in events if isinstance(e, Snapshot)]
    assert progress == list(range(1, 201)) and snaps == sorted(snaps) and snaps[-1] == 200
    assert len(snaps) < 200 and ended[0][0].summary == {"steps": 200} and not ended[0][1]
    assert task.state == "finished" and bridge.task is None


def test_shutdown_cancels_the_running_job(bridge):
    started = threading.Event()

    def work(token: CancelToken) -> None:
        started.set()
        while True:
            token.check()
            time.sleep(0.01)

    bridge.submit(work)
    assert started.wait(5)
    t0 = time.monotonic()
    assert bridge.shutdown(timeout=2) and time.monotonic() - t0 < 1.0
