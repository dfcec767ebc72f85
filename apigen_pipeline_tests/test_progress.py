"""The progress throttle every long step reports through: every N items or T seconds, then a final line."""

import pytest

from apigen_pipeline.progress import ProgressThrottle, ProgressUpdate


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: FakeClock, **kwargs) -> tuple[ProgressThrottle, list[ProgressUpdate]]:
    seen: list[ProgressUpdate] = []
    return ProgressThrottle(seen.append, clock=clock, **kwargs), seen


def test_reports_every_n_items():
    clock = FakeClock()
    progress, seen = throttle(clock, total=7, every_items=3, every_seconds=60)
    for _ in range(7):
        progress.advance()
    assert [u.done for u in seen] == [3, 6]
    progress.finish()
    assert seen[-1] == ProgressUpdate(done=7, total=7, elapsed_s=0.0, final=True)


def test_reports_after_t_seconds_even_when_few_items_finish():
    clock = FakeClock()
    progress, seen = throttle(clock, every_items=1000, every_seconds=10)
    progress.advance()
    clock.now += 9.9
    progress.advance()
    assert seen == []
    clock.now += 0.2
    progress.advance(5)
    assert [(u.done, u.elapsed_s, u.final) for u in seen] == [(7, 10.1, False)]
    clock.now += 1
    progress.advance()  # the clock restarts at each report
    assert len(seen) == 1


def test_a_batch_of_items_counts_whole():
    clock = FakeClock()
    progress, seen = throttle(clock, every_items=10, every_seconds=60)
    progress.advance(25)
    assert [u.done for u in seen] == [25]


@pytest.mark.parametrize("kwargs", [{"every_items": 0}, {"every_seconds": 0}])
def test_nonsense_intervals_are_refused(kwargs):
    with pytest.raises(ValueError):
        ProgressThrottle(lambda update: None, **kwargs)
