"""Split sizes of the embedded tasks for `autopeft tasks`, cached beside the encodings (the tweets
must be read and deduplicated to know them)."""

from __future__ import annotations

import json

from autopeft.evaluators.tasks import TaskRef
from autopeft.evaluators.tasks.spec import TaskSpec


def embedded_sizes(name: str) -> tuple[TaskSpec, dict[str, int]]:
    """(spec, split sizes) of an embedded task, from a small cache file when its data is unchanged."""
    from autopeft.evaluators.cache_dir import cache_key, cache_root

    ref = TaskRef(name)
    path = cache_root() / "sizes" / f"{cache_key(ref.fingerprint())}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        spec = data["spec"]
        spec.update(label_names=tuple(spec["label_names"]), report_splits=tuple(spec["report_splits"]))
        return TaskSpec(**spec), data["sizes"]
    import dataclasses

    task = ref.load()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"spec": dataclasses.asdict(task.spec), "sizes": task.sizes()}))
    return task.spec, task.sizes()
