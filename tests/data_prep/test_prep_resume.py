"""SIGKILL midway + re-run == one uninterrupted run, byte for byte, with no duplicates; engines agree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import psutil

from data_prep.reader import iter_shard
from tests.data_prep.helpers import TINY_PREP, prep_command, read_manifest, run_prep_cli


def samples_by_key(out: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    for shard in sorted(out.glob("shard-*.tar")):
        for members in iter_shard(shard):
            key = members.pop("__key__")
            assert key not in samples, f"sample {key} written twice"
            samples[key] = members
    return samples


def test_sigkill_midway_then_resume_gives_the_same_samples(synth_set, tmp_path):
    synth = synth_set(videos=16, seed=3)
    args = [f"--input={synth / 'manifest.jsonl'}", *TINY_PREP, "--videos_per_shard=1"]
    reference = tmp_path / "reference"
    assert run_prep_cli(*args, f"--out={reference}", "--workers=1").returncode == 0

    out = tmp_path / "killed"
    proc = subprocess.Popen(prep_command(*args, f"--out={out}", "--workers=2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once some, but not all, inputs are in the books
        manifest = out / "manifest.jsonl"
        done = manifest.read_bytes().count(b"\n") if manifest.exists() else 0
        if done >= 3:
            break
        time.sleep(0.02)
    children = psutil.Process(proc.pid).children(recursive=True)  # pool workers and their decoders
    assert children
    os.kill(proc.pid, signal.SIGKILL)  # the main process only: its workers must die with it (PDEATHSIG)
    proc.wait()
    killed_at = len(read_manifest(out))
    assert 3 <= killed_at < 16, f"the kill came at {killed_at} of 16 inputs"
    for shard in out.glob("shard-*.tar"):  # whatever is in place is whole
        with tarfile.open(shard) as tar:
            assert len(tar.getmembers()) % 4 == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"processes of the killed run still alive: {alive}"

    resumed = run_prep_cli(*args, f"--out={out}", "--workers=2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "(resumed)" in resumed.stdout
    records = read_manifest(out)
    by_input = {r["input"]: r for r in records}
    assert sorted(by_input) == list(range(16))
    assert len(records) - killed_at <= 16 - killed_at + 2  # at most the in-flight groups were redone

    expected, got = samples_by_key(reference), samples_by_key(out)
    assert expected and got.keys() == expected.keys()
    for key, members in expected.items():
        assert got[key] == members, f"sample {key} differs"
    assert not list(out.glob(".*.tmp"))

    again = run_prep_cli(*args, f"--out={out}")  # a finished folder: nothing to do, books unchanged
    assert again.returncode == 0 and "this run: 0 inputs" in again.stdout
    assert len(read_manifest(out)) == len(records)


CRASHING_RUN = '''
import os, sys
from data_prep import process
from data_prep.config import PrepConfig
from data_prep.runner import run_prep

_samples = process.VideoProcessor._samples


def crash_on_one_video(self, item, video, writer):  # the worker process dies on this input, hard
    if item.id == sys.argv[3]:
        os._exit(3)
    return _samples(self, item, video, writer)


process.VideoProcessor._samples = crash_on_one_video  # spawned workers re-import this module, so they get it too
if __name__ == "__main__":
    run_prep(PrepConfig(input=sys.argv[1], out=sys.argv[2], size=64, flow_size=128, videos_per_shard=1, workers=2,
                        motion_threshold_px=0.15, progress=False))
'''


def test_a_worker_that_dies_costs_only_its_own_input(synth_set, tmp_path):
    synth = synth_set()
    script = tmp_path / "crashing_run.py"
    script.write_text(CRASHING_RUN)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(script), str(synth / "manifest.jsonl"), str(out), "synth_000002"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    records = {r["id"]: r for r in read_manifest(out)}
    assert len(records) == 6
    assert (records["synth_000002"]["status"], records["synth_000002"]["reason"]) == ("failed", "worker_crashed")
    assert all(r["status"] != "failed" for vid, r in records.items() if vid != "synth_000002")
