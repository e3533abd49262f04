"""A robust recipe end to end (issue 11): trained on a small generated problem it raises robust
accuracy well above standard training's, and the folder it writes loads into a real server,
whose Evaluate measures it on the same images as the training job did.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from saliency_client import SaliencyClient
from saliency_service.training.data import ArrayImages
from saliency_service.training.evaluation import accuracy, pgd_accuracy
from saliency_service.training.job import fresh_model, run_job
from saliency_service.training.loop import TrainSettings
from saliency_service.training.recipes import Recipe

from tests.serving import ServerThread
from tests.unit.training.toy import CLASSES, EPS, SIZE, toy, toy_arrays

pytestmark = pytest.mark.integration
SETTINGS = TrainSettings(epochs=3, batch_size=32, learning_rate=1e-2, val_pgd_steps=0)


def test_fgsm_training_beats_standard_under_pgd_and_serves(tmp_path: Path) -> None:
    train_set = toy(320, seed=0)
    images, labels, masks = toy_arrays(128, seed=1)
    val = ArrayImages(images, labels, CLASSES, masks)
    figures = {}
    for recipe in ("standard", "fgsm_rs"):
        torch.manual_seed(0)
        base = fresh_model("builtin:tiny_cnn", train_set, SIZE, SIZE)
        report = run_job(base, train_set, val, Recipe(recipe, eps=EPS), SETTINGS,
                         tmp_path / "repository" / recipe)
        figures[recipe] = report["final"]
        assert report["final"]["val_accuracy"] >= 0.95
        # The report's figures are the model's: measured again here, on the served weights.
        model = base.classifier.eval()
        assert accuracy(model, val) == report["final"]["val_accuracy"]
    robust, standard = figures["fgsm_rs"], figures["standard"]
    assert robust["val_pgd5_accuracy"] >= standard["val_pgd5_accuracy"] + 0.25

    server = ServerThread(tmp_path / "repository")
    try:
        with SaliencyClient(server.target, timeout=300) as client:
            assert {m.name for m in client.list_models()} == {"standard", "fgsm_rs"}
            served = {
                name: client.evaluate(list(images), [int(c) for c in labels], model=name,
                                      attacks={"pgd": {"steps": 5, "alpha": 2.5 * EPS / 5}},
                                      epsilons=[EPS])
                for name in ("standard", "fgsm_rs")
            }
            # AutoAttack's count through the same Evaluate (two components: APGD-T and FAB-T
            # need more than two classes).
            ensemble = client.evaluate(list(images), [int(c) for c in labels], model="fgsm_rs",
                                       autoattack={"apgd_ce": {"steps": 5},
                                                   "square": {"queries": 40}},
                                       autoattack_epsilons=[EPS])
    finally:
        server.stop()
    for name, report in served.items():
        assert report.clean_accuracy == pytest.approx(figures[name]["val_accuracy"])
    pgd_robust = served["fgsm_rs"].curves[0].accuracy[0]
    pgd_standard = served["standard"].curves[0].accuracy[0]
    # The server's PGD draws other random starts than the job's; the gap stays.
    assert pgd_robust >= pgd_standard + 0.25
    assert abs(pgd_robust - robust["val_pgd5_accuracy"]) <= 0.1
    assert pgd_accuracy(base.classifier, val, EPS) == robust["val_pgd5_accuracy"]
    (result,) = ensemble.autoattack
    assert [stage.attack for stage in result.stages] == ["apgd_ce", "square"]
    assert result.robust_accuracy == pytest.approx(sum(result.robust) / len(labels))
    assert result.robust_accuracy <= ensemble.clean_accuracy
    assert result.robust_accuracy <= result.stages[0].robust_accuracy
