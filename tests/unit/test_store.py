"""The directory store: a run's files are moved into it and out of it, never copied twice."""

import os

from opp_ci.store import DirectoryStore, open_store


def scratch_of_a_run(path):
    (path / "results").mkdir(parents=True)
    (path / "results" / "a.sca").write_text("scalars")
    (path / "results" / "a.vec").write_text("vectors")
    (path / "log.txt").write_text("log")
    return path


def test_a_runs_scratch_directory_is_moved_into_the_store_whole(tmp_path):
    store = DirectoryStore(tmp_path / "store")
    scratch = scratch_of_a_run(tmp_path / "scratch")
    inode = os.stat(scratch / "results" / "a.vec").st_ino

    names = store.upload_dir(scratch, "job-1")

    assert names == ["log.txt", "results/a.sca", "results/a.vec"]
    assert not scratch.exists()
    assert os.stat(tmp_path / "store" / "job-1" / "results" / "a.vec").st_ino == inode


def test_an_earlier_attempts_files_are_replaced(tmp_path):
    store = DirectoryStore(tmp_path / "store")
    earlier = scratch_of_a_run(tmp_path / "earlier")
    (earlier / "results" / "a.sca").write_text("old")
    store.upload_dir(earlier, "job-1")

    names = store.upload_dir(scratch_of_a_run(tmp_path / "scratch"), "job-1")

    assert names == ["log.txt", "results/a.sca", "results/a.vec"]
    assert (tmp_path / "store" / "job-1" / "results" / "a.sca").read_text() == "scalars"


def test_a_private_store_moves_files_out_and_a_retried_download_finds_them_moved(tmp_path):
    store = open_store(str(tmp_path / "store"), move_out=True)
    store.upload_dir(scratch_of_a_run(tmp_path / "scratch"), "job-1")
    inode = os.stat(tmp_path / "store" / "job-1" / "results" / "a.vec").st_ino

    store.download("job-1/results", ["a.sca", "a.vec"], tmp_path / "out")
    store.download("job-1/results", ["a.sca", "a.vec"], tmp_path / "out")  # an attempt that is retried

    assert os.stat(tmp_path / "out" / "a.vec").st_ino == inode
    assert not (tmp_path / "store" / "job-1" / "results").exists()  # emptied: removed at once
    store.download("job-1", ["log.txt"], tmp_path / "logs")
    assert list((tmp_path / "store").iterdir()) == []


def test_a_shared_store_keeps_its_files(tmp_path):
    store = open_store(str(tmp_path / "store"))
    store.upload_dir(scratch_of_a_run(tmp_path / "scratch"), "job-1")

    store.download("job-1/results", ["a.vec"], tmp_path / "out")

    assert (tmp_path / "store" / "job-1" / "results" / "a.vec").exists()
    assert os.stat(tmp_path / "out" / "a.vec").st_nlink == 2  # hard-linked, not copied


def test_the_files_of_a_run_are_its_regular_files_not_what_a_link_points_to(tmp_path):
    """A simulation may leave symlinks in its result directory: a link to a directory (say /) is not
    walked into, a link to a file (say /etc/shadow) or a broken link is no file of the run's."""
    from opp_ci.execution import _size_of
    from opp_ci.store import relative_files

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret").write_text("not the run's")
    run = scratch_of_a_run(tmp_path / "scratch") / "results"
    (run / "nested").mkdir()
    (run / "nested" / "b.sca").write_text("more")
    (run / "to-dir").symlink_to(elsewhere)
    (run / "to-file").symlink_to(elsewhere / "secret")
    (run / "broken").symlink_to(tmp_path / "nothing")

    assert relative_files(run) == ["a.sca", "a.vec", "nested/b.sca"]
    assert _size_of(run) == len("scalars") + len("vectors") + len("more")  # a link's target is not counted
