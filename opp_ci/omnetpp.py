"""Talking to an OMNeT++ simulation: asking it for its runs and building a run's command line (what a run
printed is read by `opp_ci.fingerprints.log`).

We never re-implement OMNeT++: the runs of a config come from the simulation itself
(`-s -q runs`), and its errors are reported in its own words (`<!> Error: ...`).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from opp_ci.errors import UserError
from opp_ci.fingerprints.log import simulation_error
from opp_ci.processes import kill_group

if TYPE_CHECKING:
    from opp_ci.spec import CampaignSpec

#: How long enumerating the runs of one config may take (loading NED files of a big model is slow).
ENUMERATION_TIMEOUT = 300

_RUN_LINE = re.compile(r"^Run (\d+): ?(.*)$")


@dataclass(frozen=True)
class ListedRun:
    """A run as the simulation lists it (`-s -q runs`): config, number, iteration variables, repetition."""

    config: str
    number: int
    itervars: dict[str, str] = field(default_factory=dict)
    repetition: int | None = None


@dataclass(frozen=True)
class Simulation:
    """How to start the simulation: its command, where, and with which ini files."""

    command: tuple[str, ...]
    working_dir: Path
    ini: tuple[str, ...] = ("omnetpp.ini",)

    def base_argv(self) -> list[str]:
        argv = [*self.command, "-u", "Cmdenv"]
        for ini in self.ini:
            argv += ["-f", ini]
        return argv

    def query_argv(self, config: str, run_filter: str | None, args: tuple[str, ...] = ()) -> list[str]:
        argv = [*self.base_argv(), "-c", config]
        if run_filter is not None:
            argv += ["-r", run_filter]
        return [*argv, *args, "-s", "-q", "runs"]

    def run_argv(
        self,
        config: str,
        run: int,
        result_dir: Path,
        *,
        sim_time_limit: str | None = None,
        cpu_time_limit: str | None = None,
        fingerprint: str | None = None,
        args: tuple[str, ...] = (),
    ) -> list[str]:
        argv = [*self.base_argv(), "-c", config, "-r", str(run), "-s", f"--result-dir={result_dir}"]
        if sim_time_limit:
            argv.append(f"--sim-time-limit={sim_time_limit}")
        if cpu_time_limit:
            argv.append(f"--cpu-time-limit={cpu_time_limit}")
        if fingerprint:
            argv.append(f"--fingerprint={fingerprint}")
        return [*argv, *args]

    def executable(self) -> Path | None:
        """The program file, when the command names one we can find (for the build digest)."""
        program = self.command[0]
        candidate = self.working_dir / program
        if "/" in program and candidate.is_file():
            return candidate
        from shutil import which

        found = which(program, path=os.environ.get("PATH"))
        return Path(found) if found else None

    def digest(self) -> str:
        """A digest of the executable and the ini files: part of every job id, so a rebuilt model
        or an edited ini makes new jobs instead of reusing old records."""
        sha = hashlib.sha256()
        executable = self.executable()
        for path in [executable] + [self.working_dir / ini for ini in self.ini]:
            if path is not None and path.is_file():
                sha.update(path.name.encode())
                sha.update(path.read_bytes())
        return sha.hexdigest()


def list_runs(simulation: Simulation, config: str, run_filter: str | None,
              args: tuple[str, ...] = ()) -> list[ListedRun]:
    """The runs of `config` that match `run_filter`, asked from the simulation itself."""
    with RunListings(simulation, [(config, run_filter, args)]) as listings:
        return listings.runs(config, run_filter, args)


Listing = tuple[str, str | None, tuple[str, ...]]  # config, run filter, extra args


class RunListings:
    """The simulation's answers to `-s -q runs` for several configs, asked for all at once (up to one
    process per CPU): the listings run while Redis and the workers start, and a model that takes a
    second to load its NED files (INET) takes it once per CPU, not once per config in a row.

    Used as a context manager: leaving it kills the listings nobody read (bad input elsewhere).
    """

    def __init__(self, simulation: Simulation, requests: list[Listing], parallel: int | None = None) -> None:
        self.simulation = simulation
        self._waiting = list(dict.fromkeys(requests))
        self._running: dict[Listing, subprocess.Popen] = {}
        self._parallel = parallel or os.cpu_count() or 1
        self._fill()

    @classmethod
    def of_spec(cls, spec: CampaignSpec) -> RunListings:
        """The listings of every config a campaign spec names, started now."""
        requests = [(config.name, config.runs, tuple(config.args)) for config in spec.configs]
        return cls(Simulation(tuple(spec.command), spec.working_dir, tuple(spec.ini)), requests)

    def __enter__(self) -> RunListings:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def runs(self, config: str, run_filter: str | None, args: tuple[str, ...] = ()) -> list[ListedRun]:
        """The listed runs of one request (started now if it was not yet); UserError as `list_runs`."""
        request = (config, run_filter, tuple(args))
        if request not in self._running:
            self._start(request)
        try:
            output = self._output(self._running[request], config)
        finally:
            del self._running[request]
            self._fill()  # the next listing starts once this one ended: at most `parallel` at a time
        runs = parse_runs(config, output)
        if not runs:
            what = f"the run filter {run_filter!r}" if run_filter else "it"
            raise UserError(f"config {config}: {what} selects no runs; check the filter with `-q runs`")
        return runs

    def close(self) -> None:
        for process in self._running.values():
            _kill_group(process)
        self._running.clear()

    def _fill(self) -> None:
        while self._waiting and len(self._running) < self._parallel:
            self._start(self._waiting[0])

    def _start(self, request: Listing) -> None:
        if request in self._waiting:
            self._waiting.remove(request)
        argv = self.simulation.query_argv(*request)
        try:
            self._running[request] = subprocess.Popen(
                argv, cwd=self.simulation.working_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
            )
        except FileNotFoundError:
            raise UserError(
                f"simulation command {argv[0]!r} not found (working directory {self.simulation.working_dir}); "
                "build the simulation first, or set `command` in opp-ci.toml / --command"
            ) from None
        except PermissionError:
            raise UserError(f"simulation command {argv[0]!r} is not executable; chmod +x it or fix `command`") from None
        except OSError as error:  # ENOEXEC: a text file without `#!`, a binary for another machine
            raise UserError(f"simulation command {argv[0]!r} cannot be started ({error.strerror}); a script needs a "
                            "first line such as `#!/bin/sh`, a binary must be built for this machine") from None

    def _output(self, process: subprocess.Popen, config: str) -> str:
        try:
            stdout, stderr = process.communicate(timeout=ENUMERATION_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise UserError(f"asking the simulation for the runs of {config} took over {ENUMERATION_TIMEOUT}s"
                            ) from None
        if process.returncode != 0:
            message = simulation_error(stderr + stdout) or (
                f"exit status {process.returncode}: {(stderr or stdout).strip()[-300:]}"
            )
            raise UserError(f"config {config}: the simulation says: {message}")
        return stdout


def _kill_group(process: subprocess.Popen) -> None:
    """Kills a listing and whatever it started (its group: a child would hold its pipes open), and
    closes its pipes."""
    kill_group(process)
    process.communicate()


def parse_runs(config: str, stdout: str) -> list[ListedRun]:
    """Parses `-s -q runs` output: `Run 3: $numHosts=10, $iaMean=2, $repetition=1`."""
    runs = []
    for line in stdout.splitlines():
        match = _RUN_LINE.match(line.strip())
        if match:
            itervars = parse_itervars(match.group(2))
            repetition = itervars.pop("repetition", None)
            runs.append(ListedRun(config, int(match.group(1)), itervars,
                                int(repetition) if repetition is not None and repetition.isdigit() else None))
    return runs


def parse_itervars(text: str) -> dict[str, str]:
    """`$numHosts=10, $iaMean=2, $repetition=1` -> {"numHosts": "10", ...}; values may be quoted."""
    itervars: dict[str, str] = {}
    for match in re.finditer(r'\$(\w+)=("(?:[^"\\]|\\.)*"|[^,]*)', text):
        itervars[match.group(1)] = match.group(2).strip()
    return itervars
