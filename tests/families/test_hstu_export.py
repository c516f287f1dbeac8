"""The HSTU serving encoder (jagged inputs) exported as TorchScript and ONNX equals eager on other batch sizes."""

from __future__ import annotations

import pytest
import torch

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.export import check_export, export_encoder
from dlrmbench_plugins.families.hstu.model import HSTURetrieval
from dlrmbench_plugins.families.hstu.synthetic import SyntheticSequencesConfig, generate


@pytest.fixture(scope="module")
def setup():
    data = generate(SyntheticSequencesConfig(num_users=40, num_items=200, num_clusters=10, min_length=3,
                                             max_length=18))
    cfg = HSTUModelConfig(num_items=200, item_embedding_dim=16, num_blocks=2, num_heads=2, dqk=8, dv=8,
                          max_sequence_length=16)
    torch.manual_seed(0)
    model = HSTURetrieval(cfg).eval()
    example = data.batch(torch.arange(5), "eval", 16)
    others = [data.batch(torch.arange(5, 6), "eval", 16), data.batch(torch.arange(6, 40), "eval", 16)]
    return model, example, others


@pytest.mark.parametrize("fmt", ["torchscript", pytest.param("onnx", marks=pytest.mark.slow)])
def test_export_equals_eager_on_other_batch_and_token_counts(setup, tmp_path, fmt):
    model, example, others = setup
    path = export_encoder(model, example, tmp_path / f"encoder.{fmt}", fmt)
    assert check_export(model, path, fmt, [example] + others) < 1e-5
