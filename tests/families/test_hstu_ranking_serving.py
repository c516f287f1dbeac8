"""The DLRMv3 ranking HSTU as served (ranking_serving.py): a request's candidates are its data rows, the served
module gives the training model's probabilities, accuracy's NE and AUC equal scikit-learn / the NE formula, and the
export formats it lacks are refused by name. Runs where the ranking model exists (plugins/families/hstu/ranking.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dlrmbench_plugins.families.hstu.ranking")

CASE = {
    "name": "rank", "device": "cpu", "mode": "serve",
    "model": {"family": "hstu", "task": "ranking", "num_items": 512, "item_embedding_dim": 16, "num_blocks": 1,
              "num_heads": 2, "dqk": 8, "dv": 8, "input_dropout": 0, "linear_dropout": 0,
              "ranking": {"embedding_dim": 16, "preprocessor_hidden_dim": 16, "item_mlp_hidden_dim": 16,
                          "head_hidden_dim": 16, "num_users": 64, "num_categories": 8, "max_seq_len": 64,
                          "max_num_candidates": 8, "max_num_candidates_inference": 16}},
    "dataset": {"name": "dlrmv3_streaming", "options": {"num_users": 64, "num_items": 512, "num_categories": 8,
                                                         "num_timestamps": 4, "avg_samples_per_item": 2,
                                                         "num_eval_candidates": 8, "num_inference_candidates": 16}},
    "serve": {"target": "pytorch", "scenario": "offline", "samples": 8},
}


@pytest.fixture(scope="module")
def served():
    from dlrmbench.config.schema import Case
    from dlrmbench.workload.build import build_workload, resolve

    work = build_workload(resolve(Case.model_validate(CASE)))
    assert hasattr(work.family, "serving"), "RankingFamily.serving (the family's hook) is missing"
    return work.family.serving(work.model, work.dataset)


def test_a_requests_candidates_are_its_data_rows_and_the_module_gives_the_training_models_probabilities(served):
    library = served.library(8, 0)
    prepared = library.prepare([3, 1])
    inputs = dict(zip(served.input_names, prepared.inputs))
    cands = inputs["cand_offsets"]
    assert prepared.offsets.tolist() == cands.tolist() and prepared.labels.shape == (int(cands[-1]), 1)
    from dlrmbench.export.family_export import module_predict

    (probabilities,) = module_predict(served.module())(*prepared.inputs)
    result = served.compare((probabilities,), served.reference(prepared.inputs))
    assert result["passed"] and result["max_abs_diff"] <= 1e-5 and probabilities.shape == prepared.labels.shape


def test_ne_and_auc_equal_independent_computations(served):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    labels = (rng.random((300, 1)) < 0.3).astype(np.float32)
    p = np.clip(0.3 + 0.4 * (labels - 0.3) + 0.2 * rng.standard_normal((300, 1)), 0.01, 0.99).astype(np.float32)
    got = served.accuracy(p, labels)
    (task,) = served.tasks
    y, q = labels[:, 0].astype(np.float64), p[:, 0].astype(np.float64)
    rate = y.mean()
    ne = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean() / -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    assert got[f"auc_{task}"] == pytest.approx(roc_auc_score(y, q), abs=1e-12)
    assert got[f"ne_{task}"] == pytest.approx(ne, rel=1e-9)
    assert served.accuracy_metric == f"auc_{task}"


def test_an_export_format_it_lacks_is_refused_by_name(served, tmp_path):
    from dlrmbench.errors import UserError
    from dlrmbench.export.family_export import export_served

    with pytest.raises(UserError, match="no export format, not onnx; serve it on the pytorch"):
        export_served(served, {"family": "hstu"}, tmp_path / "out", ("onnx",), check=False, force=False)
    assert not (tmp_path / "out").exists()
