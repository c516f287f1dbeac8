"""Interaction layout and widths, initialisation, seeding, padding column, hashing (facts 1.3-1.6)."""

from __future__ import annotations

import math

import pytest
import torch

from dlrmbench.config.schema import Case
from dlrmbench.model.dlrm import first_top_linear
from dlrmbench.model.embeddings import IndexOutOfRange
from dlrmbench.model.interactions import CatInteraction, DotInteraction, interaction_width
from dlrmbench.workload.build import build_model, resolve_table_sizes
from dlrmbench.workload.train import train
from dlrmbench.workload.reporter import Reporter
from .helpers import TABLES, ListDataset, random_batch, tiny_case, workload
from dlrmbench.workload.build import resolve


def test_dot_interaction_hand_computed() -> None:
    """Bottom b=(1,2), embeddings e1=(3,0), e2=(1,-1): output b, then (e1.b, e2.b, e2.e1), then 0."""
    bottom = torch.tensor([[1.0, 2.0]])
    embedded = torch.tensor([[[3.0, 0.0], [1.0, -1.0]]])
    out = DotInteraction(num_vectors=3, dim=2)(bottom, embedded)
    # pairs in row-major strict-lower-triangle order: (1,0)=e1.b=3, (2,0)=e2.b=-1, (2,1)=e2.e1=3
    assert out.tolist() == [[1.0, 2.0, 3.0, -1.0, 3.0, 0.0]]


def test_cat_interaction_hand_computed() -> None:
    bottom = torch.tensor([[1.0, 2.0]])
    embedded = torch.tensor([[[3.0, 0.0], [1.0, -1.0]]])
    assert CatInteraction(3, 2)(bottom, embedded).tolist() == [[1.0, 2.0, 3.0, 0.0, 1.0, -1.0]]


def test_default_widths_480_and_3456() -> None:
    assert interaction_width("dot", 27, 128) == 128 + 351 + 1 == 480
    assert interaction_width("cat", 27, 128) == 3456
    assert DotInteraction(27, 128).out_features == 480
    # general in the number of features and the dimension
    assert interaction_width("dot", 4, 16) == 16 + 6 + 1
    assert interaction_width("cat", 4, 16) == 64


def test_default_model_shapes() -> None:
    """NVIDIA's default 13-512-256-128 / 480-1024-1024-512-256-1 with dim 128 (tiny tables)."""
    case = Case(name="d", device="cpu", model={"table_sizes": [3] * 26})
    model = build_model(resolve(case), [3] * 26)
    bottom = [m for m in model.bottom_mlp.modules() if isinstance(m, torch.nn.Linear)]
    top = [m for m in model.top_mlp.modules() if isinstance(m, torch.nn.Linear)] + [model.out]
    assert [(l.in_features, l.out_features) for l in bottom] == [(13, 512), (512, 256), (256, 128)]
    assert [(l.in_features, l.out_features) for l in top] == [(480, 1024), (1024, 1024), (1024, 512), (512, 256),
                                                              (256, 1)]
    dense = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embeddings."))
    assert dense == 2_369_921  # facts sheet 1.2: bottom 171,392 + top 2,198,529
    out = model(torch.rand(4, 13), torch.zeros(4, 26, dtype=torch.long))
    assert out.shape == (4,)  # logits, no sigmoid: values are not confined to (0, 1) in general
    case_cat = Case(name="c", device="cpu", model={"table_sizes": [3] * 26, "interaction": "cat"})
    assert first_top_linear(build_model(resolve(case_cat), [3] * 26)).in_features == 3456


def test_initialisation_statistics() -> None:
    case = Case(name="d", device="cpu", seed=5, model={"table_sizes": [1000, 10] + [3] * 24})
    model = build_model(resolve(case), case.model.table_sizes).requires_grad_(False)
    layer = [m for m in model.top_mlp.modules() if isinstance(m, torch.nn.Linear)][1]  # 1024 x 1024
    assert float(layer.weight.std()) == pytest.approx(math.sqrt(2 / 2048), rel=0.02)
    assert float(layer.weight.mean()) == pytest.approx(0.0, abs=0.002)
    assert float(layer.bias.std()) == pytest.approx(math.sqrt(1 / 1024), rel=0.1)
    # the output layer keeps PyTorch's default: U(-1/sqrt(256), 1/sqrt(256)) for weight and bias
    bound = 1 / 16
    assert float(model.out.weight.abs().max()) <= bound and float(model.out.weight.std()) == pytest.approx(
        bound / math.sqrt(3), rel=0.2)
    # embeddings: U(-sqrt(1/n), sqrt(1/n)) per table
    weight = model.embeddings.weight
    big = weight[:1000]
    assert float(big.abs().max()) <= math.sqrt(1 / 1000)
    assert float(big.std()) == pytest.approx(math.sqrt(1 / 1000) / math.sqrt(3), rel=0.03)
    assert float(weight[1000:1010].abs().max()) <= math.sqrt(1 / 10)
    assert float(weight[1000:1010].abs().max()) > math.sqrt(1 / 1000)  # a different bound per table
    # the padding column of the first top layer is zero
    assert torch.count_nonzero(first_top_linear(model).weight[:, -1]) == 0


def test_seeding_reproducible_and_strategy_independent() -> None:
    a = build_model(resolve(tiny_case(seed=9)), TABLES).state_dict()
    b = build_model(resolve(tiny_case(seed=9)), TABLES).state_dict()
    c = build_model(resolve(tiny_case(seed=10)), TABLES).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["bottom_mlp.layers.0.weight"], c["bottom_mlp.layers.0.weight"])
    # joint and multi_table draw the same numbers for the same seed
    multi = build_model(resolve(tiny_case(seed=9, embedding="multi_table")), TABLES).state_dict()
    tables = torch.cat([multi[f"embeddings.tables.{i}.weight"] for i in range(len(TABLES))])
    assert torch.equal(tables, a["embeddings.weight"])
    assert torch.equal(multi["out.weight"], a["out.weight"])


def test_padding_column_stays_zero_after_training() -> None:
    case = tiny_case(max_steps=5)
    train_batches = [random_batch(8, 3, TABLES, seed=s) for s in range(5)]
    work = workload(case, ListDataset(train_batches, train_batches[:1], TABLES))
    pad = first_top_linear(work.model).weight[:, -1]
    assert torch.count_nonzero(pad) == 0
    before = first_top_linear(work.model).weight.detach().clone()
    train(work, Reporter(stream=None))
    after = first_top_linear(work.model).weight
    assert not torch.equal(after[:, :-1], before[:, :-1])  # the other columns did train
    assert torch.count_nonzero(after[:, -1]) == 0


def test_hash_indices_folds_ids_modulo_table_size() -> None:
    case = tiny_case(model={"hash_indices": True, "table_sizes": list(TABLES)})
    model = build_model(resolve(case), TABLES)
    ids = torch.tensor([[7, 11, 302], [-1, 4, 2]])
    folded = model.embeddings.prepare_indices(ids)
    assert folded.tolist() == [[0, 1, 2], [6, 4, 2]]  # id mod size (Python/torch floor modulo for -1)
    with torch.no_grad():
        expected = model.embeddings.weight[folded + torch.tensor([0, 7, 12])]
        assert torch.equal(model.embeddings(ids), expected)


def test_out_of_range_id_without_hashing_is_refused() -> None:
    model = build_model(resolve(tiny_case()), TABLES)
    with pytest.raises(IndexOutOfRange, match=r"cat_1.*id 5.*5 rows.*hash_indices"):
        model.embeddings(torch.tensor([[0, 5, 0]]))


def test_max_table_size_clips_tables() -> None:
    case = tiny_case(model={"hash_indices": True, "max_table_size": 4, "table_sizes": [7, 5, 3]})
    sizes = resolve_table_sizes(resolve(case), dataset=None)
    assert sizes == [4, 4, 3]
    model = build_model(resolve(case), sizes)
    assert model.embeddings.weight.shape == (11, 4)
    assert model.embeddings.prepare_indices(torch.tensor([[6, 4, 2]])).tolist() == [[2, 0, 2]]
    # each clipped table is initialised by its clipped size: U(-1/2, 1/2) for 4 rows
    assert float(model.embeddings.weight.detach()[:4].abs().max()) <= 0.5
