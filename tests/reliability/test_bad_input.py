"""Bad input, every command (issue 24, item 3): each row is a command line a user could type with one
thing wrong; each must end in exit status 2 with one line that names the problem, before anything
long runs, and leave no traceback. The files and directories a row needs are made by `_world`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autopeft.cli import main


def _world(root: Path) -> dict[str, str]:
    """Paths the rows refer to: an empty directory, a non-run directory, a broken space file, ..."""
    empty = root / "empty"
    empty.mkdir()
    notrun = root / "notrun"
    notrun.mkdir()
    (notrun / "notes.txt").write_text("not a run\n")
    badjson = root / "badrun"
    badjson.mkdir()
    (badjson / "run.json").write_text("{ not json")
    otherver = root / "otherver"
    otherver.mkdir()
    (otherver / "run.json").write_text(json.dumps({"settings": {"task": None}, "status": "finished"}))
    space = root / "space.yaml"
    space.write_text("version: 1\nmethods:\n  lora: [unclosed\n")
    unknown_method = root / "unknown_method.yaml"
    unknown_method.write_text("version: 1\nmethods:\n  dora:\n    sizes: {q: [0, 4]}\n")
    nolabel = root / "nolabel.csv"
    nolabel.write_text("text,target\ngood,1\nbad,0\n")
    cand = root / "cand.json"
    cand.write_text("{ not json")
    foreign = root / "foreign"  # someone else's run.json, no trials
    foreign.mkdir()
    (foreign / "run.json").write_text(json.dumps({"name": "not autopeft"}))
    started = root / "started"  # a search that wrote run.json and was killed before its first trial
    started.mkdir()
    (started / "run.json").write_text(json.dumps({"settings": {"task": "tweet_sentiment", "model": "minilm"}}))
    candidates = {"LAYERS7": {"layers": [{"lora": {"q": 4}}] * 7}, "SLOT": {"layers": [{"lora": {"zz": 4}}] * 6},
                  "NEWER": {"format_version": 99, "layers": []}, "NEGATIVE": {"layers": [{"lora": {"q": -4}}] * 6},
                  "NOTOBJ": [1, 2], "METHOD": {"layers": [{"dora": {"q": 4}}] * 6}}
    for name, data in candidates.items():
        (root / f"{name.lower()}.json").write_text(json.dumps(data))
    (root / "export-without-candidate").mkdir()
    return {f"CAND_{name}": str(root / f"{name.lower()}.json") for name in candidates} | {
            "FOREIGN": str(foreign), "STARTED": str(started), "EXPORTDIR": str(root / "export-without-candidate"),
            "EMPTY": str(empty), "NOTRUN": str(notrun), "BADRUN": str(badjson), "OTHERVER": str(otherver),
            "BADSPACE": str(space), "UNKNOWNMETHOD": str(unknown_method), "NOLABEL": str(nolabel),
            "BADCAND": str(cand), "MISSING": str(root / "missing"), "OUT": str(root / "out")}


S = ["search", "--task", "tweet_sentiment", "--out", "OUT"]
ROWS = [
    # search: every value it takes
    (["search", "--task", "no_such_task", "--out", "OUT"], "no_such_task"),
    ([*S, "--budget", "0.5x"], "malformed budget"),
    ([*S, "--budget", "150%"], "percentage"),
    ([*S, "--budget", "10"], "budget"),
    ([*S, "--fidelity", "fast"], "unknown fidelity"),
    ([*S, "--fidelity", "steps=-3"], "positive"),
    ([*S, "--fidelity", "steps=ten"], "not a number"),
    ([*S, "--strategy", "no_such"], "unknown strategy"),
    ([*S, "--strategy", "mobo:start=sideways"], "start must be one of"),
    ([*S, "--strategy", "mobo:nonsense"], "NAME:key=value"),
    ([*S, "--strategy", "asha", "--fidelity", "paper"], "fidelity counted in steps"),
    ([*S, "--space", "MISSING"], "missing"),
    ([*S, "--space", "BADSPACE"], "space.yaml"),
    ([*S, "--space", "UNKNOWNMETHOD"], "dora"),
    ([*S, "--model", "MISSING"], "missing"),
    ([*S, "--precision", "fp16"], "unknown precision"),
    ([*S, "--kernels", "fast"], "unknown kernels"),
    ([*S, "--attention", "flash"], "unknown attention"),
    ([*S, "--trials", "0"], "at least 1"),
    ([*S, "--time-limit", "ten minutes"], "time"),
    ([*S, "--keep-weights", "some"], "keep"),
    ([*S, "--exportable", "adapters"], "exportable"),
    (["search", "--task", "NOLABEL", "--out", "OUT"], "label"),
    (["search", "--resume", "EMPTY"], "EMPTY"),
    (["search", "--resume", "NOTRUN"], "NOTRUN"),
    (["search", "--resume", "BADRUN"], "BADRUN"),
    (["search", "--resume", "MISSING"], "missing"),
    (["search", "--resume", "OTHERVER"], "another version"),
    (["search", "--resume", "FOREIGN"], "no search settings"),
    ([*S, "--storage", "nonsense"], "cannot open the study storage"),
    ([*S, "--clock", "moon"], "use wall or cpu"),
    ([*S, "--clock", "cpu", "--workers", "2"], "in-process worker"),
    ([*S, "--storage", "sqlite:////no/such/dir/study.db"], "unable to open"),
    ([*S, "--storage", "postgresql://user@localhost:1/db"], "driver"),
    # train
    (["train", "no_such_baseline", "--task", "tweet_sentiment"], "neither a file nor a baseline"),
    (["train", "BADCAND", "--task", "tweet_sentiment"], "cand.json"),
    (["train", "lora-r8", "--task", "tweet_sentiment", "--seeds", "x"], "seed"),
    (["train", "CAND_LAYERS7", "--task", "tweet_sentiment"], "7 layers but the model has 6"),
    (["train", "CAND_SLOT", "--task", "tweet_sentiment"], "unknown slot 'zz'"),
    (["train", "CAND_NEWER", "--task", "tweet_sentiment"], "newer than this autopeft"),
    (["train", "CAND_NEGATIVE", "--task", "tweet_sentiment"], "non-negative"),
    (["train", "CAND_NOTOBJ", "--task", "tweet_sentiment"], "JSON object with 'layers'"),
    (["train", "CAND_METHOD", "--task", "tweet_sentiment"], "unknown method 'dora'"),
    (["train", "EXPORTDIR", "--task", "tweet_sentiment"], "without candidate.json"),
    (["train", "lora-r8", "--task", "tweet_sentiment", "--precision", "fp16"], "unknown precision"),
    (["train", "lora-r8", "--task", "tweet_sentiment", "--kernels", "fast"], "unknown kernels"),
    (["train", "lora-r8", "--task", "tweet_sentiment", "--attention", "flash"], "unknown attention"),
    (["train", "lora-r8", "--task", "tweet_sentiment", "--fidelity", "fast"], "unknown fidelity"),
    (["train", "lora-r8", "--task", "no_such_task"], "no_such_task"),
    # export, report: directories that hold no run
    (["export", "EMPTY", "--best", "--out", "OUT"], "EMPTY"),
    (["export", "NOTRUN", "--best", "--out", "OUT"], "NOTRUN"),
    (["export", "MISSING", "--best", "--out", "OUT"], "missing"),
    (["export", "BADRUN", "--best", "--out", "OUT"], "BADRUN"),
    (["report", "EMPTY"], "EMPTY"),
    (["report", "NOTRUN"], "NOTRUN"),
    (["report", "MISSING"], "missing"),
    (["report", "BADRUN"], "BADRUN"),
    (["report", "FOREIGN"], "no search settings"),
    (["report", "STARTED"], "no trials.csv yet"),
    (["export", "OTHERVER", "--best", "--out", "OUT"], "no trials.csv"),
    (["export", "STARTED", "--best", "--out", "OUT"], "no trials.csv"),
    # space
    (["space", "show", "no_such_preset"], "no_such_preset"),
    (["space", "show", "BADSPACE"], "space.yaml"),
    (["space", "sample", "full", "--budget", "0.5x"], "malformed budget"),
]


@pytest.mark.parametrize("args, says", ROWS, ids=[" ".join(a) for a, _ in ROWS])
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, says):
    world = _world(tmp_path)
    argv = [world.get(a, a) for a in args]
    says = world.get(says, says)
    monkeypatch.setattr(sys, "argv", ["autopeft", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert says.lower() in err.lower(), err
