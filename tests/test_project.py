"""The repository's promises about itself: README commands, CI, packaging."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert 'pip install -e ".[test]" && python -m pytest' in readme
    assert (
        "grep -m1 -F 'pip install -e \".[test]\" && python -m pytest' README.md" in ci
    )


def test_readme_starts_with_the_two_setup_commands():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    commands = [
        line for line in first_block.splitlines() if line and not line.startswith("#")
    ]
    assert len(commands) == 2
    assert commands[0].endswith("textdp demo")
    assert "pytest" in commands[1]


def test_console_script_is_declared():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'textdp = "sklearn_textdp.cli:main"' in pyproject


def test_bundled_data_ships_with_its_notice():
    data = REPO / "sklearn_textdp" / "data"
    notice = (data / "NOTICE").read_text()
    for name in ("glove.6B.50d.top20k.f16.npz", "sms_spam.csv", "drugreview_train.csv"):
        assert (data / name).exists()
        assert name.split(".")[0].split("_")[0] in notice
    assert "PDDL" in notice and "CC BY 4.0" in notice
