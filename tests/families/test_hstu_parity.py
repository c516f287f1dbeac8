"""dlrmbench's HSTU against numbers recorded from the reference (bench/hstu_parity.py --write-fixture).

The fixture holds the inputs, the initial weights, and the reference's eval outputs, loss, gradients and weights
after one AdamW step, recorded from meta-recsys/generative-recommenders @ db1bf8f2 (research HSTU) on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dlrmbench_plugins.families.hstu.parity import SHAPE, compare

FIXTURE = Path(__file__).parent.parent / "fixtures" / "hstu_parity.npz"


@pytest.fixture(scope="module")
def record() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as f:
        return {k.replace("__", "/"): f[k] for k in f.files}


def test_fixture_holds_every_parameter(record):
    ours = {k for k in record if k.startswith("w0/")}
    assert len(ours) == 2 + 5 * SHAPE["num_blocks"]
    assert record["ref_eval_outputs"].shape == (int(record["lengths"].sum()), SHAPE["item_embedding_dim"])


def test_matches_the_reference_forward_gradients_and_one_adamw_step(record):
    torch.manual_seed(0)
    diffs = compare(record)
    for backend in ("pytorch", "jagged"):
        assert diffs[f"{backend}: eval outputs"] < 1e-6
        assert diffs[f"{backend}: loss"] < 1e-5
        assert diffs[f"{backend}: gradients"] < 1e-5
        assert diffs[f"{backend}: weights after one AdamW step"] < 1e-7


RANKING_FIXTURE = Path(__file__).parent.parent / "fixtures" / "hstu_ranking_parity.npz"


def test_the_ranking_model_matches_the_reference_dlrm_hstu_forward_and_gradients():
    """GR's DlrmHSTU (modules/dlrm_hstu.py, PyTorch kernels, streaming feature layout) recorded by
    bench/hstu_parity.py --ranking: predictions, loss and every gradient, tables included."""
    from dlrmbench_plugins.families.hstu.ranking_parity import compare, name_map

    with np.load(RANKING_FIXTURE) as f:
        record = {k.replace("__", "/"): f[k] for k in f.files}
    assert {k for k in record if k.startswith("grad/")} == {"grad/" + v for v in name_map(2).values()} | {
        "grad/item_emb.weight", "grad/category_emb.weight", "grad/user_emb.weight"}
    diffs = compare(record)
    assert diffs["eval predictions"] < 1e-6 and diffs["loss"] < 1e-6, diffs
    assert diffs["gradients"] < 1e-6, diffs
