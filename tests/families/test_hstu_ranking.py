"""The DLRMv3 ranking HSTU (task: ranking), its metrics, the dlrm-v3 streaming generator and grad clipping,
against independent computations (Python loops, numpy, scikit-learn, torch's own clipping)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from sklearn.metrics import log_loss, roc_auc_score

from dlrmbench_plugins.families.hstu.config import HSTUModelConfig
from dlrmbench_plugins.families.hstu.metrics import accuracy
from dlrmbench_plugins.families.hstu.ranking import HSTURanking, merge_jagged, target_aware_mask
from dlrmbench_plugins.families.hstu.streaming import StreamingConfig, generate_streaming
from dlrmbench_plugins.families.hstu.verify import RANKING_SMALL, ranking_batch, verify_ranking


@pytest.fixture(scope="module")
def model() -> HSTURanking:
    torch.manual_seed(0)
    return HSTURanking(RANKING_SMALL).eval()


def test_the_mask_lets_candidates_see_the_history_and_themselves_not_each_other():
    lengths, targets, n = torch.tensor([6, 3, 1]), torch.tensor([2, 3, 1]), 7
    mask = target_aware_mask(lengths, targets, n)
    for b in range(3):
        history = int(lengths[b] - targets[b])
        for i in range(n):
            for j in range(n):
                assert bool(mask[b, i, j]) == (i == j or (j < i and j < history)), (b, i, j)


def test_merge_puts_each_sequence_s_left_values_before_its_right_values():
    left, right = torch.tensor([1, 2, 3]), torch.tensor([10, 20, 30, 40])
    got = merge_jagged(left, torch.tensor([0, 2, 2, 3]), right, torch.tensor([0, 1, 3, 4]))
    assert got.tolist() == [1, 2, 10, 20, 30, 3, 40]


def test_a_candidate_s_score_ignores_the_other_candidates_but_not_the_history(model):
    batch = ranking_batch()
    with torch.no_grad():
        base = model(*batch.tensors())
        ids = batch.cand_ids.clone()
        ids[1:3] = (ids[1:3] + 7) % RANKING_SMALL.num_items  # request 0's other two candidates
        moved = model(*batch.__class__(**{**batch.__dict__, "cand_ids": ids}).tensors())
        history = batch.uih_ids.clone()
        history[0] = (history[0] + 5) % RANKING_SMALL.num_items
        rewritten = model(*batch.__class__(**{**batch.__dict__, "uih_ids": history}).tensors())
    assert torch.equal(moved[0], base[0]) and torch.equal(moved[3:], base[3:])
    assert not torch.allclose(moved[1:3], base[1:3])
    assert not torch.allclose(rewritten[0], base[0])
    assert torch.equal(rewritten[3:], base[3:])  # other requests do not see request 0's history


def test_the_loss_is_the_reference_s_multitask_bce(model):
    batch = ranking_batch()
    with torch.no_grad():
        logits = model(*batch.tensors()).double().numpy()
        loss = float(model.loss(batch))
    expected = 0.0
    for t, task in enumerate(RANKING_SMALL.ranking.tasks):
        labels = [int((a & task.bit) > 0) for a in batch.cand_actions.tolist()]
        p = 1 / (1 + np.exp(-logits[:, t]))
        expected += log_loss(labels, p, labels=[0, 1]) * 0.2  # sum BCE / candidates x causal_multitask_weights
    assert loss == pytest.approx(expected, rel=1e-5)


def test_the_ranking_model_matches_float64_forward_and_one_adam_step():
    rows = verify_ranking()
    assert [r.quantity for r in rows] == ["eval outputs", "loss", "gradients", "weights after one step"]
    assert all(r.passed for r in rows), rows


def test_ranking_metrics_follow_their_definitions():
    from dlrmbench_plugins.families.hstu._family import ranking_metrics

    g = torch.Generator().manual_seed(3)
    p, y = torch.rand(40, generator=g), (torch.rand(40, generator=g) < 0.4).float()
    request = torch.tensor([3] * 10 + [0] * 10 + [7] * 10 + [1] * 10).float()
    y[10:20] = 1.0  # one request with one label class: left out of GAUC
    got = ranking_metrics({"p_rating": p, "y_rating": y, "request": request}, ["rating"])
    pn, yn = p.double().numpy(), y.numpy()
    assert got["accuracy_rating"] == pytest.approx(np.mean((pn >= 0.5) == yn), abs=1e-12)
    assert accuracy(torch.tensor([0.5, 0.49]), torch.tensor([1.0, 1.0])) == 0.5
    assert got["auc_rating"] == pytest.approx(roc_auc_score(yn, pn), abs=1e-9)
    per = [roc_auc_score(yn[lo:lo + 10], pn[lo:lo + 10]) for lo in (0, 20, 30)]
    assert got["gauc_rating"] == pytest.approx(sum(per) / 3, abs=1e-9)
    ce = log_loss(yn, pn, labels=[0, 1])
    rate = yn.mean()
    assert got["ne_rating"] == pytest.approx(ce / -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate)), rel=1e-9)


SMALL_STREAM = dict(num_users=64, num_items=4096, num_categories=16, num_timestamps=6, avg_samples_per_item=2,
                    num_eval_candidates=4, num_inference_candidates=24)


def test_streaming_data_follows_the_reference_s_process():
    cfg = StreamingConfig(**SMALL_STREAM)
    data = generate_streaming(cfg)
    again = generate_streaming(cfg)
    assert all(np.array_equal(a, b) for a, b in zip(data.train.uih_items, again.train.uih_items))
    per = cfg.items_per_category
    assert cfg.train_timestamps == 5 and set(data.train.timestamps) == set(range(5))
    assert set(data.inference.timestamps) == {5}
    users_categories: dict[int, set[int]] = {}
    for i in range(len(data.train)):
        user, t = data.train.users[i], data.train.timestamps[i]
        cands = data.train.cand_items[i]
        assert len(cands) == cfg.num_eval_candidates
        # the catalogue grows: an item's index inside its category is below items_per_category * (t + 1) / T
        assert np.all(cands % per < int(per * (t + 1) / cfg.num_timestamps))
        users_categories.setdefault(user, set()).update((cands // per).tolist())
        assert np.all((data.train.cand_ratings[i] >= 1) & (data.train.cand_ratings[i] <= 5))
    assert max(len(c) for c in users_categories.values()) <= cfg.categories_per_user
    # a user's history at its next request holds the earlier request's items (streaming: T trains on < T)
    first: dict[int, int] = {}
    for i, user in enumerate(data.train.users):
        if user in first:
            earlier = first[user]
            assert set(data.train.cand_items[earlier]) <= set(data.train.uih_items[i])
            break
        first[user] = i
    for i in range(len(data.inference)):
        assert len(data.inference.cand_items[i]) == cfg.num_inference_candidates
    labels = np.concatenate(data.train.cand_ratings) >= 3.5
    assert 0.2 < labels.mean() < 0.8


@pytest.mark.parametrize("field, value, message", [
    ("categories_per_user", 32, "categories_per_user 32 exceeds num_categories 16"),
    ("num_items", 64, "fewer than num_timestamps 6"),
    ("train_ratio", 0.05, "leaves 0 training timestamps"),
    ("action_weights", [1, 2], "action_weights needs one bit per rating 1..5"),
])
def test_bad_streaming_parameters_are_refused_by_name(field, value, message):
    with pytest.raises(ValidationError, match=message):
        StreamingConfig(**{**SMALL_STREAM, field: value})


def test_the_reference_scale_is_refused_when_built_not_when_validated():
    cfg = StreamingConfig()  # the reference's main(): 5M users, 1B items
    assert (cfg.num_users, cfg.num_items, cfg.num_categories, cfg.num_timestamps) == (5_000_000, 10**9, 128, 100)
    assert cfg.mean_items_per_timestamp == 100
    with pytest.raises(ValueError, match="num_items 1,000,000,000 is over 100,000,000"):
        generate_streaming(cfg)
    with pytest.raises(ValueError, match="lower num_users or num_timestamps"):
        generate_streaming(StreamingConfig(num_users=5_000_000, num_items=50_000_000))


def test_ranking_config_refusals_name_the_field():
    with pytest.raises(ValidationError, match="model.ranking is set but model.task is retrieval"):
        HSTUModelConfig(ranking={"num_users": 4})
    with pytest.raises(ValidationError, match="runs on the pytorch backend only"):
        HSTUModelConfig(task="ranking", attention="jagged")
    with pytest.raises(ValidationError, match="task names must differ"):
        HSTUModelConfig(task="ranking", ranking={"tasks": [{"name": "a"}, {"name": "a", "bit": 2}]})
    with pytest.raises(ValidationError, match="leaves no history"):
        HSTUModelConfig(task="ranking", ranking={"max_seq_len": 33})


def test_grad_clip_norm_clips_the_dense_gradients_as_torch_does():
    from dlrmbench_plugins.families.hstu._family import _AdamTables
    from dlrmbench_plugins.families.hstu.plugin import AdamOptions

    torch.manual_seed(0)
    dense, table = torch.nn.Linear(4, 3), torch.nn.Embedding(10, 4, sparse=True)
    twin, twin_table = torch.nn.Linear(4, 3), torch.nn.Embedding(10, 4, sparse=True)
    twin.load_state_dict(dense.state_dict()), twin_table.load_state_dict(table.state_dict())
    options = AdamOptions(variant="adam", tables="rowwise_adagrad", grad_clip_norm=0.01)
    opt = _AdamTables([{"params": list(dense.parameters()), "sparse": False, "lr": 0.1},
                       {"params": [table.weight], "sparse": True, "lr": 0.1}], options)
    x = torch.randn(2, 4)
    for lin, emb in ((dense, table), (twin, twin_table)):
        lin(emb(torch.tensor([1, 2])) + x).pow(2).sum().backward()
    norm = torch.nn.utils.clip_grad_norm_(list(twin.parameters()), 0.01)
    assert float(norm) > 0.01  # the clip bites
    opt.step()
    for g_clipped, p in zip([q.grad for q in twin.parameters()], dense.parameters()):
        assert torch.allclose(p.grad, g_clipped)
    assert torch.equal(table.weight.grad.to_dense(), twin_table.weight.grad.to_dense())  # tables are not clipped


def _auc_after_one_epoch(data, cfg: HSTUModelConfig, shuffle_labels: bool) -> float:
    """Train (Adam, seeded) one pass over the training requests, then the first task's AUC on the inference
    requests; ``shuffle_labels`` permutes each training batch's labels (no signal left to learn)."""
    from dlrmbench_plugins.families.hstu._family import RankingStream

    c = data.config
    torch.manual_seed(0)
    model = HSTURanking(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for batch in RankingStream(data.train, "train", 16, cfg, c.action_weights, c.items_per_category):
        if shuffle_labels:
            order = torch.randperm(batch.num_candidates, generator=g)
            batch = batch.__class__(**{**batch.__dict__, "cand_actions": batch.cand_actions[order]})
        opt.zero_grad()
        model.loss(batch).backward()
        opt.step()
    model.eval()
    scores, labels = [], []
    with torch.no_grad():
        for batch in RankingStream(data.inference, "test", 64, cfg, c.action_weights, c.items_per_category):
            scores.append(model(*batch.tensors())[:, 0])
            labels.append(model.labels(batch.cand_actions)[:, 0])
    return roc_auc_score(torch.cat(labels).numpy(), torch.cat(scores).numpy())


def test_the_ranking_model_learns_the_streaming_data_and_not_shuffled_labels():
    # dlrmv3_streaming as generated (no planted signal added): a candidate's label (rating >= 3.5) follows its
    # category's rank in the user's list, which the history's actions show, and the item's fixed rating
    data = generate_streaming(StreamingConfig(
        num_users=48, num_items=2048, num_categories=16, num_timestamps=12, avg_samples_per_item=4,
        num_eval_candidates=8, num_inference_candidates=32, seed=1))
    cfg = HSTUModelConfig(
        task="ranking", num_items=2048, item_embedding_dim=16, num_blocks=1, num_heads=1, dqk=8, dv=8,
        input_dropout=0.0, linear_dropout=0.0, ranking=dict(
            embedding_dim=16, preprocessor_hidden_dim=16, item_mlp_hidden_dim=16, head_hidden_dim=16, num_users=48,
            num_categories=16, max_seq_len=40, max_num_candidates=8, max_num_candidates_inference=32,
            num_position_buckets=64, num_time_buckets=64))
    learned = _auc_after_one_epoch(data, cfg, shuffle_labels=False)
    shuffled = _auc_after_one_epoch(data, cfg, shuffle_labels=True)
    assert learned > 0.62, learned  # measured 0.68 (2,304 inference candidates, 34% positive)
    assert abs(shuffled - 0.5) < 0.04, shuffled  # measured 0.51: the margin is the labels, not the test
