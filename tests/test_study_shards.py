"""Shards that run alone and merge anywhere (issue 23, item 3): ``run_study(shard=(i, n))``,
``merge_studies`` and ``attribkit study --shard / --merge``, on 200 synthetic photos made when read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from attribkit.study._synthetic import synthetic_study_images
from attribkit.errors import AttribkitWarning, OptionError
from attribkit.study import Setting, merge_studies, read_records, run_study

import _study_helpers as helpers

PHOTOS = 200
#: The evaluate protocol's default row on a tiny model: Grad-CAM + threshold, top-3 classes and the truth.
OPTIONS = dict(settings=[Setting("default (gradcam+threshold)")], workers=0, steps=0, gallery=3, top_k=3,
               map_batch=16, progress=False)


def _study(out: Path, count: int = PHOTOS, **kw):  # type: ignore[no-untyped-def]
    # One thread: records compared bit for bit need the same float operations in the same order.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_study(helpers.tiny_classifier(), synthetic_study_images(count), out=out, **{**OPTIONS, **kw})
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One unsharded run: what every merge must reproduce."""
    return _study(tmp_path_factory.mktemp("single"))


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("shards")
    for i in range(4):
        result = _study(root / f"part{i}", shard=(i, 4))
        assert result.files == {} and not (root / f"part{i}" / "results.csv").exists()  # the report is the merge's
    return [root / f"part{i}" for i in range(4)]


def _lines(out: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in (out / "records").glob("*.jsonl"))


@pytest.mark.slow
def test_four_shards_merged_equal_one_run_record_for_record(tmp_path, single, shards):
    # Photo i in shard i % 4, each computed once.
    for i, folder in enumerate(shards):
        names = {r["image"] for r in read_records(folder)}
        assert names == {f"synthetic{j:05d}" for j in range(i, PHOTOS, 4)}
    merged = merge_studies(list(reversed(shards)), tmp_path / "merged")  # any order
    assert merged.missing == {} and merged.skipped == {}
    assert merged.records == single.records == read_records(tmp_path / "merged")
    assert len(merged.records) == 2 * PHOTOS and _lines(tmp_path / "merged") == 2 * PHOTOS
    for name in ("results.csv", "results.md", "index.html", "explorer.html"):
        assert (tmp_path / "merged" / name).read_text() == (single.out / name).read_text(), name
    gallery = sorted(p.name for p in (single.out / "gallery").iterdir())
    assert sorted(p.name for p in (tmp_path / "merged" / "gallery").iterdir()) == gallery


@pytest.mark.slow
def test_missing_photos_are_named_with_their_shard_and_a_second_merge_completes(tmp_path, single, shards, capsys):
    from attribkit.cli import main

    out = tmp_path / "merged"
    with pytest.warns(AttribkitWarning, match=r"50 photo\(s\) have no records .*shard\(s\) 2/4 .*synthetic00002"):
        partial = merge_studies([shards[0], shards[1], shards[3]], out)
    assert list(partial.missing) == [f"synthetic{j:05d}" for j in range(2, PHOTOS, 4)]
    assert set(partial.missing.values()) == {"2/4"}
    assert (out / "missing.txt").read_text().split() == list(partial.missing)
    assert "no records in the merged folders" in (out / "results.md").read_text()
    # The command line: the same merge says so in one line and exits 1.
    assert main(["study", "--merge", str(shards[0]), str(shards[3]), "--out", str(tmp_path / "cli")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "100 photo(s) have no records (shard(s) 1/4, 2/4 not merged" in err[0]
    # Merging again into the same folder with every shard completes the study.
    assert main(["study", "--merge", *map(str, shards), "--out", str(out)]) == 0
    assert read_records(out) == single.records and not (out / "missing.txt").exists()
    assert (out / "results.csv").read_text() == (single.out / "results.csv").read_text()


def test_merge_refuses_folders_of_another_study_naming_the_difference(tmp_path):
    a = _study(tmp_path / "a", 8, shard=(0, 2))
    b = _study(tmp_path / "b", 8, shard=(1, 2), top_k=2)
    with pytest.raises(OptionError, match=r"^.*b: not a shard of the study in .*a: .*a has top_k=3, not top_k=2; "
                                          r"merge only the shards of one study$"):
        merge_studies([a.out, b.out], tmp_path / "m")
    c = _study(tmp_path / "c", 12, shard=(1, 2))
    with pytest.raises(OptionError, match=r"has 8 photos, not 12"):
        merge_studies([a.out, c.out], tmp_path / "m")
    with pytest.raises(OptionError, match=r"not a study folder \(no report.json"):
        merge_studies([a.out, tmp_path], tmp_path / "m")
    with pytest.raises(OptionError, match=r"a folder of its own"):
        merge_studies([a.out], a.out)
    assert not (tmp_path / "m").exists()  # refused before anything was written


def test_shard_arguments_are_checked(tmp_path, monkeypatch):
    from attribkit.cli import main

    for bad in ((4, 4), (-1, 2), "0/2", (1,)):
        with pytest.raises(OptionError, match="shard must be"):
            _study(tmp_path / "x", 4, shard=bad)
    assert main(["study", "--methods", "saliency", "--data", "samples", "--shard", "2/2", "--out",
                 str(tmp_path / "y")]) == 2
    assert main(["study", "--merge", str(tmp_path), "--methods", "saliency", "--out", str(tmp_path / "z")]) == 2
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(OptionError, match="under torchrun the ranks are the shards"):
        _study(tmp_path / "x", 4, shard=(0, 2))


_SHARD_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(1)
import _study_helpers as helpers
from attribkit.study._synthetic import synthetic_study_images
from attribkit.study import Setting, run_study
run_study(helpers.tiny_classifier(), synthetic_study_images({count}), out={out!r}, shard=(2, 4), **{options})
"""


@pytest.mark.slow
def test_a_shard_killed_with_sigkill_resumes_and_its_merge_equals_one_run(tmp_path, single, shards):
    out = tmp_path / "part2"
    options = {k: v for k, v in OPTIONS.items() if k != "settings"}
    code = _SHARD_SCRIPT.format(tests=str(Path(__file__).parent), count=PHOTOS, out=str(out),
                                options=f"dict(settings=[Setting('default (gradcam+threshold)')], **{options!r})")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "records").is_dir() or _lines(out) < 30:
        assert proc.poll() is None and time.monotonic() < deadline, "finished or stuck before the kill"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    killed = _lines(out)
    assert 30 <= killed < 100
    with open(next((out / "records").glob("*.jsonl")), "a") as f:
        f.write('{"kind": "box", "image": "synth')  # a write torn by the kill
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=300).returncode == 0
    assert _lines(out) == 100  # the torn line dropped; nothing computed twice
    merged = merge_studies([shards[0], shards[1], out, shards[3]], tmp_path / "merged")
    assert merged.records == single.records and merged.missing == {}
    assert json.loads((out / "report.json").read_text())["shard"] == [2, 4]


@pytest.mark.slow
def test_a_resumed_study_holds_the_keys_of_its_records_not_the_records_while_it_computes(tmp_path, single,
                                                                                          monkeypatch):
    """Memory stays flat at any scale: before the loop starts, a resumed study knows what is done from the
    records' keys (a few hundred bytes each), not by holding every record (kB each, MaxBoxAcc's curves)."""
    import shutil
    import tracemalloc

    from attribkit.study import _runner

    out = tmp_path / "study"
    shutil.copytree(single.out, out)
    held = {}
    real = _runner.compute

    def measured(*args, **kwargs):  # type: ignore[no-untyped-def]
        held["bytes"] = tracemalloc.get_traced_memory()[0] - held["start"]
        return real(*args, **kwargs)

    monkeypatch.setattr(_runner, "compute", measured)
    tracemalloc.start()
    try:
        held["start"] = tracemalloc.get_traced_memory()[0]
        result = _study(out)
    finally:
        tracemalloc.stop()
    assert result.records == single.records
    assert held["bytes"] / len(single.records) < 1500, held  # 6,300 per record when they were held
