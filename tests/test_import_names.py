"""rollscore's packages are ``rollscore.rewards``, ``rollscore.pipeline`` and ``rollscore.env``:
a user's own ``rewards.py``, ``env.py`` or ``pipeline.py`` beside their config (as many RL
repositories have) neither breaks rollscore nor is shadowed by it, and a ``module:function``
reward is found in the current folder as ``python -m`` would find it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

USERS_REWARDS = '''
def shout(ground_truth, response):
    """The user's own reward: 1.0 when the response is the ground truth in capitals."""
    return (1.0 if response == ground_truth.upper() else 0.25), None
'''
SHADOWS = "raise ImportError('the user\\'s own {name}.py was imported for rollscore\\'s')\n"


@pytest.fixture
def user_folder(tmp_path):
    """A folder as an RL repository has it: its own rewards.py, env.py and pipeline.py."""
    (tmp_path / "rewards.py").write_text(USERS_REWARDS)
    (tmp_path / "env.py").write_text(SHADOWS.format(name="env"))
    (tmp_path / "pipeline.py").write_text(SHADOWS.format(name="pipeline"))
    (tmp_path / "rollouts.jsonl").write_text(
        "".join(
            json.dumps({"ground_truth": truth, "response": response}) + "\n"
            for truth, response in [("yes", "YES"), ("no", "no"), ("ok", "OK")]
        )
    )
    (tmp_path / "config.yaml").write_text(
        "reward_functions:\n  - {name: 'rewards:shout', weight: 1.0}\n"
    )
    return tmp_path


def run_here(folder, *command: str, pythonpath: str = ".") -> subprocess.CompletedProcess:
    """A command run in ``folder``, by default with ``PYTHONPATH=.`` (the current folder first
    on the module search path)."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath:
        environment["PYTHONPATH"] = pythonpath
    return subprocess.run(
        command,
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_rollscores_packages_import_beside_a_users_modules_of_the_same_names(user_folder):
    imported = run_here(
        user_folder,
        sys.executable,
        "-c",
        "import rollscore.rewards.batch, rollscore.pipeline.cli, rollscore.env.session, rewards;"
        "print(rewards.shout('a', 'A'))",
    )

    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == "(1.0, None)\n"


@pytest.mark.slow
@pytest.mark.parametrize("pythonpath", [".", ""], ids=["PYTHONPATH=.", "no PYTHONPATH"])
def test_a_users_rewards_py_scores_through_the_command(user_folder, pythonpath):
    command = shutil.which("rollscore") or pytest.fail("the rollscore command is not installed")

    run = run_here(
        user_folder, command, "score", "rollouts.jsonl", "--config", "config.yaml",
        "--output", "scored", "--workers", "1", pythonpath=pythonpath,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    scored = pd.read_parquet(user_folder / "scored" / "scores")
    assert scored["reward"].tolist() == [1.0, 0.25, 1.0]
    assert scored["error"].isna().all()
