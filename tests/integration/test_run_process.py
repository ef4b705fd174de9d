"""`execution.run_process` on real processes: what a run leaves behind is found and killed."""

from __future__ import annotations

from opp_ci.execution import run_process


def test_a_process_the_run_left_behind_is_killed_even_in_a_session_of_its_own(tmp_path):
    script = tmp_path / "escape"
    script.write_text("#!/bin/sh\nsetsid sleep 1000 >/dev/null 2>&1 &\necho started\n")
    script.chmod(0o755)
    execution = run_process([str(script)], tmp_path, tmp_path / "log", timeout=20)
    assert execution.exit_code == 0 and execution.stragglers == 1
    assert b"left behind were killed" in (tmp_path / "log").read_bytes()
    quiet = run_process(["true"], tmp_path, tmp_path / "log2", timeout=20)
    assert quiet.stragglers == 0
