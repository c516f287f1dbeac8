"""MLP initialisation (``model.mlp_init``): DLRMv2 draws its weights from the reference's distribution.

The reference model is TorchRec's own ``DLRM_DCN`` (what ``recommendation_v2/torchrec_dlrm`` trains), built
here beside ours at the reference's shape: bottom 512-256-128, over-arch 1024-1024-512-256-1, DCN with 3 layers
of rank 512, dim 128, 26 tables (small: the rows set only the tables' bound). Every weight and bias tensor of
ours is set against the same tensor of the reference with a two-sample Kolmogorov-Smirnov test (seeded: the
verdicts are fixed); NVIDIA's 2020 rule on the same model is rejected by the same test, so the test can fail.
"""

from __future__ import annotations

import pytest
import torch
from scipy.stats import ks_2samp
from torch import nn

from dlrmbench.config.schema import Case

ROWS = [1000 + 37 * i for i in range(26)]
SAMPLE = 200_000  # values per tensor compared (a seeded subsample of the larger tensors)


def dlrmv2_case(mlp_init: str = "auto", interaction: str = "dcnv2") -> Case:
    return Case.model_validate({
        "name": "init", "device": "cpu", "seed": 3, "embedding": "joint",
        "model": {"table_sizes": ROWS, "mlp_init": mlp_init,
                  "interaction": {"name": interaction, "options": {"layers": 3, "low_rank": 512}}
                  if interaction == "dcnv2" else interaction},
        "optimizer": {"name": "adagrad", "lr": 0.004, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0},
    })


def reference_model() -> nn.Module:
    from torchrec.models.dlrm import DLRM_DCN
    from torchrec.modules.embedding_configs import EmbeddingBagConfig
    from torchrec.modules.embedding_modules import EmbeddingBagCollection

    torch.manual_seed(2024)
    tables = [EmbeddingBagConfig(name=f"t_{i}", embedding_dim=128, num_embeddings=rows, feature_names=[f"f_{i}"])
              for i, rows in enumerate(ROWS)]
    ebc = EmbeddingBagCollection(tables=tables, device=torch.device("cpu"))
    return DLRM_DCN(ebc, 13, [512, 256, 128], [1024, 1024, 512, 256, 1], dcn_num_layers=3, dcn_low_rank_dim=512,
                    dense_device=torch.device("cpu"))


def layer_tensors(linears: list[nn.Linear]) -> dict[str, torch.Tensor]:
    """Each layer's weight and bias, and every MLP bias (not the shared out layer's) times sqrt(fan_in), pooled:
    a bias vector alone (128 values) is too short to tell the two rules apart."""
    out = {}
    for i, layer in enumerate(linears):
        out[f"linear{i}.weight"], out[f"linear{i}.bias"] = layer.weight, layer.bias
    out["biases_scaled"] = torch.cat([l.bias.detach() * l.weight.shape[1] ** 0.5 for l in linears[:-1]])
    return out


def reference_tensors(ref: nn.Module) -> dict[str, torch.Tensor]:
    linears = [p._linear for p in ref.dense_arch.model._mlp] + [p._linear for p in ref.over_arch.model[0]._mlp]
    linears.append(ref.over_arch.model[1])
    out = layer_tensors(linears)
    cross = ref.inter_arch.crossnet
    for i in range(3):
        out[f"cross.W{i}"], out[f"cross.V{i}"] = cross.W_kernels[i], cross.V_kernels[i]
    out["table0"] = ref.sparse_arch.embedding_bag_collection.embedding_bags["t_0"].weight
    return out


def our_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    linears = [m for m in model.bottom_mlp.modules() if isinstance(m, nn.Linear)]
    linears += [m for m in model.top_mlp.modules() if isinstance(m, nn.Linear)] + [model.out]
    out = layer_tensors(linears)
    cross = model.interaction.crossnet
    for i in range(3):
        out[f"cross.W{i}"], out[f"cross.V{i}"] = cross.W_kernels[i], cross.V_kernels[i]
    from dlrmbench.distributed.model import table_weights

    out["table0"] = table_weights(model.embeddings, 0, ROWS[0])
    return out


def sample(tensor: torch.Tensor) -> torch.Tensor:
    flat = tensor.detach().reshape(-1)
    if flat.numel() <= SAMPLE:
        return flat
    return flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(1))[:SAMPLE]]


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    return {k: sample(v) for k, v in reference_tensors(reference_model()).items()}


def pvalues(case: Case, reference: dict[str, torch.Tensor]) -> dict[str, float]:
    from dlrmbench.workload.build import build_model, resolve

    ours = our_tensors(build_model(resolve(case), ROWS))
    assert ours.keys() == reference.keys()
    return {k: float(ks_2samp(sample(v).numpy(), reference[k].numpy()).pvalue) for k, v in ours.items()}


def test_resolving_writes_the_interaction_default_and_keeps_a_choice() -> None:
    from dlrmbench.workload.build import resolve

    assert resolve(dlrmv2_case()).case.model.mlp_init == "torch"  # the DLRMv2 reference
    assert resolve(dlrmv2_case(interaction="dot")).case.model.mlp_init == "nvidia"  # NVIDIA's 2020 model
    assert resolve(dlrmv2_case("nvidia")).case.model.mlp_init == "nvidia"


def test_dlrmv2_weights_follow_the_reference_distribution(reference: dict[str, torch.Tensor]) -> None:
    p = pvalues(dlrmv2_case(), reference)
    assert min(p.values()) > 1e-3, {k: v for k, v in p.items() if v <= 1e-3}


def test_nvidia_rule_is_told_apart_from_the_reference(reference: dict[str, torch.Tensor]) -> None:
    p = pvalues(dlrmv2_case("nvidia"), reference)
    mlp = [f"linear{i}.weight" for i in range(7)] + ["biases_scaled"]  # the out layer (linear7) is shared
    assert [k for k in mlp if p[k] < 1e-6] == mlp, {k: p[k] for k in mlp}
    same = [k for k in p if k.startswith(("cross", "table", "linear7"))]  # cross network, tables, out: one rule
    assert min(p[k] for k in same) > 1e-3, {k: p[k] for k in same}
