"""The run reaper on real processes: a worker that dies, even by SIGKILL, leaves none of its runs'
processes behind, and runs spawned without `preexec_fn` still get their limits."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

WORKER = textwrap.dedent("""
    import sys, tempfile
    from pathlib import Path
    from opp_ci.execution import Limits, configure, run_process, worker_settings
    from opp_ci.omnetpp import Simulation

    settings = worker_settings(Simulation(("true",), Path(".")), tempfile.mkdtemp(), Path(tempfile.mkdtemp()))
    executor = configure(settings)
    assert executor.reaper is not None and executor.reaper.alive
    log = Path(sys.argv[2])
    limits = Limits(memory=1 << 30, results=1 << 20)
    execution = run_process(["sh", "-c", sys.argv[1]], log.parent, log, 600, limits, executor.reaper)
    print(execution.exit_code, flush=True)
""")


def start_worker(tmp_path, script: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, script, str(tmp_path / "log")], stdout=subprocess.PIPE,
                            text=True)


def sleeps(marker: str) -> list[psutil.Process]:
    """The `sleep` processes whose command line has `marker`."""
    return [process for process in psutil.process_iter(["name", "cmdline"])
            if process.info["name"] == "sleep" and marker in " ".join(process.info["cmdline"] or [])]


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_sigkilled_worker_leaves_no_process_of_its_run(tmp_path):
    marker = f"{os.getpid()}{time.monotonic_ns() % 100000}"
    script = f"sleep 3{marker}1 & setsid sleep 3{marker}2 & sleep 3{marker}3"
    worker = start_worker(tmp_path, script)
    assert wait_for(lambda: len(sleeps(f"3{marker}")) == 3), "the run did not start"
    worker.kill()
    worker.wait()
    assert wait_for(lambda: sleeps(f"3{marker}") == [], timeout=5), \
        [p.info["cmdline"] for p in sleeps(f"3{marker}")]


def test_the_reaper_ends_with_its_worker(tmp_path):
    worker = start_worker(tmp_path, "true")
    out, _ = worker.communicate(timeout=30)
    assert out.strip() == "0"
    assert wait_for(lambda: not [p for p in psutil.process_iter(["ppid"]) if p.info["ppid"] == worker.pid])


def test_runs_spawned_for_a_reaped_worker_have_their_limits(tmp_path):
    # The limits are set right after exec (prlimit), so a shell's very first command may still see none.
    worker = start_worker(tmp_path, "sleep 0.2; ulimit -v; ulimit -f; head -c 2000000 /dev/zero > big")
    out, _ = worker.communicate(timeout=30)
    virtual, file_blocks = (tmp_path / "log").read_text().split()[:2]
    assert int(virtual) == (1 << 30) // 1024  # KiB
    assert int(file_blocks) * 512 == 1 << 20 or int(file_blocks) * 1024 == 1 << 20
    assert int(out) == -signal.SIGXFSZ or int(out) > 0  # the file grew beyond the limit
