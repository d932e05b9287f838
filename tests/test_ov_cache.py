"""The OpenVINO compiled-model cache's bookkeeping (no OpenVINO needed: blobs are plain files)."""

from __future__ import annotations

import os

from edgeasr.runtime import ov_cache
from edgeasr.runtime.cli import main


def _graph(path, data: bytes = b"<net/>"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.with_suffix(".bin").write_bytes(b"w" * 10)
    return path


def test_folder_per_graph_stamped_and_emptied_on_change(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEASR_OV_CACHE", str(tmp_path / "cache"))
    g = _graph(tmp_path / "a" / "decoder.xml")
    folder = ov_cache.folder_for(g)
    assert folder is not None and folder == ov_cache.folder_for(g)  # stable per path
    (folder / "1.blob").write_bytes(b"x" * 100)
    ov_cache.folder_for(g)
    assert (folder / "1.blob").exists()  # same file: the blob stays
    st = g.with_suffix(".bin").stat()
    os.utime(g.with_suffix(".bin"), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # weights rewritten
    assert ov_cache.folder_for(g) == folder and not (folder / "1.blob").exists()


def test_prune_drops_orphans_flat_blobs_and_least_recently_used(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("EDGEASR_OV_CACHE", str(root))
    monkeypatch.setenv("EDGEASR_OV_CACHE_MAX_GB", str(25_000 / 1e9))  # room for two 10 kB blobs and their stamps
    folders = []
    for name in ("old", "mid", "new"):
        f = ov_cache.folder_for(_graph(tmp_path / name / "encoder.xml"))
        assert f is not None
        (f / "b.blob").write_bytes(b"x" * 10_000)
        folders.append(f)
    assert all(f.exists() for f in folders)  # each load pruned before its own blob was written
    assert ov_cache.prune(root) == [folders[0]]  # over the limit: the least recently used goes
    (root / "123.blob").write_bytes(b"flat")  # older layout
    (tmp_path / "mid" / "encoder.xml").unlink()  # artifact deleted
    assert set(ov_cache.prune(root)) == {root / "123.blob", folders[1]}
    assert [r["graph"] for r in ov_cache.summary(root)] == [str((tmp_path / "new" / "encoder.xml").resolve())]
    # `edgeasr cache --clear` removes what the cache wrote and nothing else in that folder.
    (root / "notes.txt").write_text("the user's")
    assert main(["cache", "--clear"]) == 0
    assert ov_cache.summary(root) == [] and (root / "notes.txt").read_text() == "the user's"


def test_cache_off_and_unwritable(tmp_path, monkeypatch):
    g = _graph(tmp_path / "a" / "decoder.xml")
    monkeypatch.setenv("EDGEASR_OV_CACHE", "off")
    assert ov_cache.folder_for(g) is None
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EDGEASR_OV_CACHE", str(blocker / "cache"))
    assert ov_cache.folder_for(g) is None  # only load time is lost
