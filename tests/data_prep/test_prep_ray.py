"""The Ray engine (a local Ray instance) runs the same groups as the process pool: identical shards."""

from __future__ import annotations

import pytest

from tests.data_prep.helpers import TINY_PREP, read_manifest, run_prep_cli


@pytest.mark.slow  # a local Ray instance starts (about a minute here)
def test_ray_engine_gives_the_same_shards_as_the_process_pool(synth_set, tmp_path):
    synth = synth_set(videos=8, seed=4)
    manifest = tmp_path / "inputs.jsonl"
    manifest.write_text((synth / "manifest.jsonl").read_text().replace('"path": "', f'"path": "{synth}/')
                        + '{"id": "gone", "path": "/nonexistent.mp4", "caption": "a missing video"}\n')
    args = [f"--input={manifest}", *TINY_PREP, "--videos_per_shard=3", "--workers=2"]
    assert run_prep_cli(*args, f"--out={tmp_path / 'pool'}").returncode == 0
    ray = run_prep_cli(*args, f"--out={tmp_path / 'ray'}", "--engine=ray")
    assert ray.returncode == 0, ray.stderr[-2000:]
    pool_shards = sorted(p.name for p in (tmp_path / "pool").glob("shard-*.tar"))
    assert pool_shards == sorted(p.name for p in (tmp_path / "ray").glob("shard-*.tar"))
    for name in pool_shards:
        assert (tmp_path / "pool" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes()
    records = {r["id"]: r for r in read_manifest(tmp_path / "ray")}
    assert len(records) == 9 and records["gone"]["reason"] == "missing_file"
