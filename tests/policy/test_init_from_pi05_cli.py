"""init_from_pi05's command line: lerobot-train's names, the old ones with one note each."""

from motionvla.policy.pi05_motion.init_from_pi05 import parse_args


def test_lerobot_names_and_old_names_give_the_same_arguments(capsys):
    new = parse_args(["--dataset.repo_id=lerobot/libero", "--dataset.root=data/libero", "--output_dir=out/init",
                      "--chunk_size=10"])
    assert capsys.readouterr().err == ""
    old = parse_args(["--repo_id=lerobot/libero", "--root", "data/libero", "--out=out/init", "--chunk_size=10"])
    err = capsys.readouterr().err
    assert vars(old) == vars(new) and (new.repo_id, new.root, new.out) == ("lerobot/libero", "data/libero", "out/init")
    for old_name, new_name in (("--repo_id", "--dataset.repo_id"), ("--root", "--dataset.root"),
                               ("--out", "--output_dir")):
        assert f"{old_name} is deprecated, use {new_name}" in err
    assert err.count("\n") == 3
