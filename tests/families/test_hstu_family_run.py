"""The hstu family through ``dlrmbench run`` (one process and two data-parallel ranks), ``plan``, ``compare``,
``verify``; nothing under ``dlrmbench/`` names it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, run_cli

from dlrmbench_plugins.families.hstu.flops import ranking_training_flops_per_sample
from dlrmbench_plugins.families.hstu.plugin import HSTUConfig

SUITE = """
name: hstu-e2e
defaults:
  device: cpu
  batch_size: 32
  test_batch_size: 256
  epochs: 3
  benchmark_warmup_steps: 2
  timeout_s: 900
  model: {family: hstu, num_items: 500, item_embedding_dim: 24, num_blocks: 1, dqk: 24, dv: 24,
          max_sequence_length: 30, num_negatives: 32, input_dropout: 0.0, linear_dropout: 0.0}
  dataset:
    name: hstu_synthetic
    options: {num_users: 256, num_items: 500, num_clusters: 25, min_length: 10, max_length: 30}
  optimizer: {name: adam, lr: 0.001, warmup_steps: 0, decay_start_step: 0, decay_steps: 0,
              options: {variant: adam, tables: rowwise_adagrad, table_lr_scale: 50}}
cases:
  - name: one
  - name: two
    processes: 2
  - name: ranking                # the DLRMv3 ranking model on dlrm-v3 streaming data (one run shares the start-up)
    batch_size: 16
    test_batch_size: 16
    epochs: 2
    model: {family: hstu, task: ranking, num_items: 2048, item_embedding_dim: 16, num_blocks: 1, num_heads: 2,
            dqk: 8, dv: 8, ranking: {embedding_dim: 16, preprocessor_hidden_dim: 16, item_mlp_hidden_dim: 16,
                                     head_hidden_dim: 16, num_users: 48, num_categories: 8, max_seq_len: 64,
                                     max_num_candidates: 4, max_num_candidates_inference: 24}}
    dataset: {name: dlrmv3_streaming, options: {num_users: 48, num_items: 2048, num_categories: 8,
                                                 num_timestamps: 4, avg_samples_per_item: 2,
                                                 num_eval_candidates: 4, num_inference_candidates: 24}}
    optimizer: {name: adam, lr: 0.001, warmup_steps: 0, decay_start_step: 0, decay_steps: 0,
                options: {variant: adam, betas: [0.95, 0.999], tables: rowwise_adagrad, grad_clip_norm: 1.0}}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("hstu-run")
    suite = work / "hstu.yaml"
    suite.write_text(SUITE)
    env = cli_env(COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "dlrmbench", "run", str(suite), "--output", str(work / "results")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work, suite, env


def _results(work: Path) -> dict[str, dict]:
    out = {}
    for path in (work / "results").rglob("*.json"):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("case"):
            out[data["case"]] = data
    return out


@pytest.mark.slow
def test_trains_to_five_times_random_hr10_and_two_ranks_equal_one_process(runs):
    results = _results(runs[0])
    random_hr10 = 10 / (500 - 27)  # at most 27 distinct items in a history: a generous random baseline
    for name in ("one", "two"):
        r = results[name]
        assert r["status"] == "ok", r.get("reason")
        m = r["metrics"]
        assert m["hr_at_10"]["value"] >= 5 * random_hr10, m["hr_at_10"]
        for key in ("ndcg_at_10", "hr_at_50", "ndcg_at_50", "hr_at_200", "ndcg_at_200", "mrr"):
            assert m[key]["higher_is_better"] is True and 0 < m[key]["value"] <= 1
        assert m["train_tokens_throughput"]["unit"] == "tokens/s" and m["train_flops"]["unit"] == "FLOP/s"
        assert r["config"]["model"]["family"] == "hstu"
    assert results["two"]["telemetry"]["world_size"] == 2
    assert results["two"]["telemetry"]["topology"] == "data_parallel"
    one, two = results["one"]["metrics"], results["two"]["metrics"]
    assert abs(one["final_train_loss"]["value"] - two["final_train_loss"]["value"]) < 1e-5
    assert one["hr_at_10"]["value"] == two["hr_at_10"]["value"]


@pytest.mark.slow
def test_the_ranking_case_reports_ne_accuracy_auc_and_gauc_per_task(runs):
    r = _results(runs[0])["ranking"]
    assert r["status"] == "ok", r.get("reason")
    m = r["metrics"]
    assert m["ne_rating"]["higher_is_better"] is False and 0 < m["ne_rating"]["value"] < 5
    for key in ("accuracy_rating", "auc_rating", "gauc_rating"):
        assert m[key]["higher_is_better"] is True and 0 < m[key]["value"] < 1, m[key]
    assert m["best_auc_rating"]["value"] >= m["auc_rating"]["value"]
    assert "hr_at_10" not in m  # retrieval metrics are not the ranking model's
    per_request = ranking_training_flops_per_sample(HSTUConfig(**r["config"]["model"]))
    assert m["train_flops"]["unit"] == "FLOP/s"
    assert m["train_flops"]["value"] == pytest.approx(per_request * m["train_throughput"]["value"], rel=1e-6)
    assert m["train_tokens_throughput"]["unit"] == "tokens/s"
    assert r["config"]["model"]["ranking"]["tasks"] == [{"name": "rating", "bit": 1}]


@pytest.mark.slow
def test_plan_compare_and_verify_know_the_family(runs):
    work, suite, env = runs
    done = run_cli("plan", str(suite), env=env)
    assert done.returncode == 0, done.stderr
    assert "item table" in done.stdout and "activations" in done.stdout
    done = run_cli("compare", str(work / "results"), "--metric", "hr_at_10", "--format", "json", env=env)
    assert done.returncode == 0 and '"hr_at_10"' in done.stdout, done.stderr
    done = run_cli("verify", "--family", "hstu", "--json", env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "hstu jagged gradients" in done.stdout and "hstu ranking (pytorch) weights after one step" in done.stdout


def test_no_file_of_the_core_names_the_family():
    for path in (REPO / "dlrmbench").rglob("*.py"):
        assert "hstu" not in path.read_text().lower(), f"{path} names hstu"


def test_the_hstu_suites_validate_and_plan_scaled_down_or_on_a_sasrec_folder(tmp_path):
    env = cli_env(COLUMNS="200")
    for name in ("hstu-movielens", "dlrmv4-proposal", "mlperf-dlrmv3"):
        done = run_cli("validate", str(REPO / "suites" / f"{name}.yaml"), env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    done = run_cli("run", str(REPO / "suites" / "mlperf-dlrmv3.yaml"), "--scale-down", "--dry-run", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dlrm-v3-cpu-scaled: run (scaled down: not comparable)" in done.stdout, done.stdout
    assert "dlrm-v3-reference: skip: does not fit" in done.stdout, done.stdout
    done = run_cli("run", str(REPO / "suites" / "hstu-movielens.yaml"), "--scale-down", "--dry-run", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("scaled down: not comparable") >= 4 and "skip" not in done.stdout, done.stdout
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "sasrec_format.csv").write_text("index,user_id,sequence_item_ids,sequence_ratings,sequence_timestamps\n"
                                              '0,1,"1,2,3","5,4,3","10,20,30"\n')
    done = run_cli("run", str(REPO / "suites" / "hstu-movielens.yaml"), "--scale-down", "--dry-run",
                   "--dataset-path", str(folder), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("sasrec_csv") == 4, done.stdout


def test_dataset_inspect_reads_a_sasrec_folder_and_names_a_bad_line(tmp_path):
    header = "index,user_id,sequence_item_ids,sequence_ratings,sequence_timestamps\n"
    good = '0,1,"1,2,3","5,4,3","10,20,30"\n1,2,"4,2,9,7","5,4,1,1","10,20,20,21"\n'
    (tmp_path / "sasrec_format.csv").write_text(header + good)
    done = run_cli("dataset", "inspect", str(tmp_path), env=cli_env(COLUMNS="200"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sasrec_csv dataset" in done.stdout and "train: 2 samples" in done.stdout
    (tmp_path / "sasrec_format.csv").write_text(header + good + '2,3,"4,2","5,4","10,20"\n')
    done = run_cli("dataset", "inspect", str(tmp_path), env=cli_env(COLUMNS="200"))
    assert done.returncode != 0
    assert "line 4: field 'sequence_item_ids' has 2 item(s)" in done.stdout, done.stdout
