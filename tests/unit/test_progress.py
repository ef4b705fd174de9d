from __future__ import annotations

import io

from opp_ci.progress import Counts, StatusLines, make_display


def test_ci_logs_get_a_status_line_every_interval_and_at_the_end():
    stream = io.StringIO()
    lines = StatusLines(total=10, stream=stream, interval=0.0)
    lines.update(Counts(total=10, done=4, failed=1, running=2))
    lines.close()
    printed = stream.getvalue().splitlines()
    assert len(printed) == 2
    assert printed[0].startswith("opp-ci: 4/10 runs done (1 failed), 2 running, 0:00:00 elapsed, ETA ")


def test_no_line_before_the_interval_passed():
    stream = io.StringIO()
    StatusLines(total=3, stream=stream, interval=3600).update(Counts(total=3, done=1))
    assert stream.getvalue() == ""


def test_a_pipe_gets_status_lines_not_a_live_bar():
    assert isinstance(make_display(5, io.StringIO()), StatusLines)
