"""The README's examples work as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
README = PROJECT / "README.md"


def python_blocks(section: str) -> list[str]:
    """The Python code blocks of a ``## section`` of the README."""
    text = README.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


@pytest.mark.slow
def test_the_training_example_scores_a_step(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(python_blocks("Training")[0])

    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )

    assert run.returncode == 0, run.stderr
    assert "tensor([1.])" in run.stdout and "Environment: correct" in run.stdout


def first_command() -> str:
    """The README's first command: install rollscore, score the shipped example."""
    return re.search(r"```bash\n(.*?)\n", README.read_text(encoding="utf-8"))[1]


@pytest.mark.slow  # installs rollscore and its dependencies into a new environment
def test_the_first_command_scores_the_example_in_a_new_environment(tmp_path):
    copy = tmp_path / "rollscore"
    shutil.copytree(
        PROJECT, copy, ignore=shutil.ignore_patterns(".*", "*.egg-info", "__pycache__", "scored-*")
    )
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)  # nothing installed but pip
    variables = {
        **os.environ,
        "PATH": os.pathsep.join([str(environment / "bin"), os.environ["PATH"]]),
        "VIRTUAL_ENV": str(environment),
    }
    variables.pop("PYTHONPATH", None)

    run = subprocess.run(
        ["bash", "-c", first_command()],
        cwd=copy, env=variables, capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr[-3000:]
    assert "27 rows scored into" in run.stdout, run.stdout
