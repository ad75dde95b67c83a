"""The `autopeft` command: light imports, the space sub-commands, one-line errors with exit 2."""

import json
import subprocess
import sys

import pytest

AUTOPEFT = [sys.executable, "-m", "autopeft"]


def run(*args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([*AUTOPEFT, *args], capture_output=True, text=True, timeout=300)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


def test_cli_import_and_help_do_not_import_torch():
    code = "import sys; import autopeft.cli; print(any(m in sys.modules for m in ('torch', 'ray', 'botorch')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    code = (
        "import sys\nsys.argv=['autopeft','--help']\nimport autopeft.cli as c\n"
        "try:\n c.main()\nexcept SystemExit:\n pass\nprint('TORCH' if 'torch' in sys.modules else 'LIGHT')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "space" in out and out.strip().endswith("LIGHT")


def test_space_sample_within_budget():
    out = run("space", "sample", "full", "--model", "minilm", "--n", "20", "--seed", "3", "--budget", "0.5%", "--json")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 20
    for row in rows:
        assert set(row) >= {"peft_params", "peft_pct", "head_params", "candidate"}
        assert row["peft_params"] <= 113_566 and row["peft_pct"] <= 0.5


def test_space_baselines_fit_the_budget():
    out = run("space", "baselines", "--model", "minilm", "--budget", "0.5%", "--json")
    rows = {json.loads(line)["name"]: json.loads(line) for line in out.stdout.splitlines()}
    assert "lora-r8" in rows and "bitfit" in rows and "houlsby@rf64" in rows
    assert all(r["peft_params"] <= 113_566 for r in rows.values())


def test_space_show_reports_range():
    out = run("space", "show", "autopeft", "--model", "minilm")
    assert "switch@5" in out.stdout and "PEFT parameters:" in out.stdout


def test_space_count_verify_on_a_local_model(tmp_path, tiny_bert_dir):
    sample = run("space", "sample", "full", "--model", str(tiny_bert_dir), "--n", "1", "--seed", "5").stdout
    path = tmp_path / "cand.json"
    path.write_text(json.dumps(json.loads(sample)["candidate"]))
    out = run("space", "count", str(path), "--model", str(tiny_bert_dir), "--verify")
    assert "counts agree" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["space", "show", "nope"], "unknown space"),
        (["space", "show", "full", "--model", "/no/such/dir"], "not found"),
        (["space", "sample", "full", "--budget", "0.5x"], "malformed budget"),
        (["space", "sample", "full", "--budget", "10"], "below the smallest candidate"),
        (["space", "count", "/no/cand.json"], "not found"),
        (["space", "show"], "Missing argument"),
    ],
)
def test_user_errors_are_one_line_exit_2(args, message):
    proc = run(*args, check_rc=2)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_space_file_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("methods:\n  lora: {sizes: {q: [0, -4]}}\n")
    proc = run("space", "show", str(path), check_rc=2)
    assert "sizes must be >= 0" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
