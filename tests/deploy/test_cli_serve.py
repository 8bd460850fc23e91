"""`motionvla serve` end to end: a real process on a free loopback port, driven by our client, stopped by Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error

import pytest
from motionvla_client import PolicyClient

from motionvla.cli.main import main
from motionvla.deploy import fake_observation
from motionvla.inference import CheckpointPolicy
from tests.deploy.helpers import free_port, healthz


def test_help_lists_the_options(capsys):
    assert main(["serve", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--checkpoint=", "--host=127.0.0.1", "--port=8000", "--token=", "--max_payload_mb=10.0", "--batch_window_ms=0.0"):
        assert option in text


def test_missing_checkpoint_is_a_one_line_error(capsys, tmp_path):
    assert main(["serve"]) == 2
    assert "--checkpoint is required" in capsys.readouterr().err
    assert main(["serve", f"--checkpoint={tmp_path}"]) == 2
    assert "is not a policy checkpoint" in capsys.readouterr().err
    # The message names the option the user typed (--checkpoint), not eval's --policy.
    assert main(["serve", f"--checkpoint={tmp_path / 'nope'}"]) == 2
    err = capsys.readouterr().err
    assert f"--checkpoint={tmp_path / 'nope'}: not a built-in policy" in err and "--policy" not in err


@pytest.mark.timeout(300)  # a fresh process imports torch + lerobot: ~10 s idle, over a minute on a busy 2-core box
def test_serve_process_answers_and_stops_on_ctrl_c(tiny_checkpoint):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "motionvla.cli.main", "serve", f"--checkpoint={tiny_checkpoint}", f"--port={port}",
         "--device=cpu", "--log_level=warning"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # A suite started in the background by a non-interactive shell (`bash .ci/run &`) ignores SIGINT, and a
        # child inherits that; a user's terminal never does, so give the server the default disposition back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120  # imports and loading take a while on a busy machine
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if healthz(port, timeout_s=1.0) == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.3)
        obs = fake_observation(CheckpointPolicy(tiny_checkpoint).metadata)
        with PolicyClient("127.0.0.1", port) as client:
            assert client.get_server_metadata()["source"] == tiny_checkpoint
            assert client.infer(obs)["actions"].shape == (10, 4)
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            raise AssertionError(f"the server did not stop within 60 s of SIGINT; its output:\n{output}") from None
        assert process.returncode == 130, output
        assert "serving on ws://127.0.0.1:" in output and "warm-up inference" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
