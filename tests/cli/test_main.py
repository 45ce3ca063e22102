"""``textdp`` itself (``cli/_main.py``): entry points, help, exit codes, signals."""

import importlib.metadata
import os
import signal
import subprocess
import sys
import time

import pytest

import sklearn_textdp.cli
from sklearn_textdp.cli import ExitCode, main
from sklearn_textdp.cli import _main as cli_main
from sklearn_textdp.cli import _perturb as cli_perturb
from tests.cli_support import csv_input, temporary_files, write_csv


def test_console_script_entry_point_is_registered():
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="textdp")
    assert entry.value == "sklearn_textdp.cli:main"
    assert entry.load() is main


def test_python_dash_m_help_works():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_textdp", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for text in ("perturb", "stats", "demo", "exit codes", "130"):
        assert text in result.stdout


def test_help_documents_every_exit_code(run):
    code, out, _ = run("perturb", "--help", embeddings=False)
    assert code == 0
    for status in ExitCode:
        assert f"  {int(status)} " in out
    documented = sklearn_textdp.cli.__doc__.split("Exit codes")[1].split("Examples")[0]
    for status in ExitCode:
        assert f"\n{int(status)}\n" in documented


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == ExitCode.USAGE
    assert "required" in capsys.readouterr().err


def test_unknown_option_is_a_usage_error(run, tmp_path):
    code, _, err = run("perturb", csv_input(tmp_path), "-e", "1", "--bogus")
    assert code == ExitCode.USAGE
    assert "--bogus" in err


@pytest.mark.parametrize(
    "signum, expected",
    [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, ExitCode.INTERRUPTED)],
)
def test_signal_mid_run_leaves_no_output_and_no_temporary_file(
    tmp_path, emb2k, signum, expected
):
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(
        source,
        ["id", "text"],
        ([i, "the movie was great and the actors were good"] for i in range(100_000)),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sklearn_textdp",
            "perturb",
            str(source),
            "-o",
            str(output),
            "-e",
            "5",
            "-m",
            "laplace",
            "--embeddings",
            emb2k,
            "--chunk-size",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            written = [p for p in tmp_path.iterdir() if "textdp-tmp" in p.name]
            if written and written[0].stat().st_size > 0:
                break  # mid-run: rows are being written
            time.sleep(0.05)
        assert process.poll() is None, "finished before the signal: use a larger input"
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == expected, err
    assert "no output file was written" in err
    assert not output.exists()
    assert temporary_files(tmp_path) == []


def test_broken_pipe_exits_quietly(run, tmp_path, monkeypatch):
    def broken(*args):
        raise BrokenPipeError

    monkeypatch.setattr(cli_perturb, "_perturb_chunk", broken)
    monkeypatch.setattr(cli_main, "_silence_stdout", lambda: None)
    code, _, err = run("perturb", csv_input(tmp_path), "-e", "1", "-q")
    assert code == ExitCode.BROKEN_PIPE and err == ""


def test_verbose_debug_shows_the_traceback_of_unexpected_errors(
    run, tmp_path, monkeypatch
):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_perturb, "_perturb_chunk", broken)
    code, _, err = run(
        "-vv", "perturb", csv_input(tmp_path), "-o", tmp_path / "o.csv", "-e", "1"
    )
    assert code == ExitCode.UNEXPECTED
    assert "Traceback" in err and "boom" in err
