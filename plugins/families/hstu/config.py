"""The HSTU family's configuration: every option of the reference that changes the numbers is a field.

Defaults are the reference's ML-1M HSTU configuration (GR ``configs/ml-1m/hstu-sampled-softmax-n128-final.gin``
over ``research/trainer/train.py``'s ``train_fn`` and ``encoder_utils.hstu_encoder``); docs/hstu.md lists the
source of each. No torch here: suites validate without it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator


MIN_LENGTH = 3  # a user's interactions, at least: the training history (all but the last two) must not be empty


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RankingTask(_Strict):
    """One binary task of the multitask head (GR ``multitask_module.TaskConfig``, BINARY_CLASSIFICATION): its label
    is ``(candidate action weights & bit) > 0`` (``dlrm_hstu._get_supervision_labels_and_weights``)."""

    name: str = Field(description="metric names get it: ne_<name>, auc_<name>, ...")
    bit: PositiveInt = Field(default=1, description="task_weight: the action bit that is this task's label")

    @model_validator(mode="after")
    def _name(self) -> "RankingTask":
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"task name {self.name!r}: use lower-case letters, digits and _ (it names metrics)")
        return self


class HSTURankingConfig(_Strict):
    """The DLRMv3 ranking model's own fields (GR ``modules/dlrm_hstu.py`` ``DlrmHSTUConfig``; defaults are the
    streaming dlrm-v3 configuration of GR ``dlrm_v3/configs.py`` and INF ``recommendation/dlrm_v3/configs.py``).

    The STU stack's shape comes from the shared fields: ``item_embedding_dim`` is the transducer width D
    (``hstu_transducer_embedding_dim``), ``num_blocks``, ``num_heads``, ``dqk`` (``hstu_attn_qk_dim``), ``dv``
    (``hstu_attn_linear_dim``), ``input_dropout``, ``linear_dropout``; ``num_items`` sizes the item table (ids
    0..num_items-1, as the reference's).
    """

    embedding_dim: PositiveInt = Field(default=512, description="hstu_embedding_table_dim: every table's width")
    preprocessor_hidden_dim: PositiveInt = Field(default=256, description="hidden width of the preprocessor MLPs")
    item_mlp_hidden_dim: PositiveInt = Field(default=512, description="item tower hidden width (reference: 512)")
    head_hidden_dim: PositiveInt = Field(default=512, description="multitask head hidden width (reference: 512)")
    num_users: PositiveInt = Field(default=10_000_000, description="user_id table rows (contextual token)")
    num_categories: PositiveInt = Field(default=128, description="item_category_id table rows")
    max_seq_len: PositiveInt = Field(default=16384, description="DlrmHSTUConfig.max_seq_len: history kept = "
                                     "max_seq_len - max_num_candidates - contextual tokens (its first items)")
    max_num_candidates: PositiveInt = Field(default=32, description="candidates per request in training")
    max_num_candidates_inference: PositiveInt = Field(default=2048, description="candidates per request served")
    user_context: bool = Field(default=True, description="contextual_feature_to_max_length {user_id: 1}: one "
                               "prepended user token")
    context_min_history: int = Field(default=20, ge=0, description="contextual_feature_to_min_uih_length: the user "
                                     "token is zeroed below this many history items")
    action_weights: tuple[PositiveInt, ...] = Field(default=(1, 2, 4, 8, 16), description="action bits embedded "
                                                    "(rating r sets bit 2^(r-1))")
    action_embedding_dim: PositiveInt = Field(default=8, description="per action bit (reference constant 8)")
    action_embedding_init_std: PositiveFloat = Field(default=5.0, description="N(0, std) init of action tables")
    num_position_buckets: PositiveInt = Field(default=8192, description="HSTUPositionalEncoder")
    num_time_buckets: PositiveInt = Field(default=2048, description="HSTUPositionalEncoder")
    time_bucket_seconds: PositiveFloat = Field(default=60.0, description="time_bucket_increments")
    time_bucket_fn: Literal["sqrt", "log"] = "sqrt"
    time_bucket_clamp: Literal["table", "embedding_dim"] = Field(
        default="table", description="largest time bucket: table = num_time_buckets (GR's Triton kernel, "
        "triton_position.py); embedding_dim = D - 1 (GR's PyTorch path reads ts_embeddings.size(1) - 1)")
    attn_alpha: PositiveFloat | None = Field(default=None, description="score scale; None: 1/sqrt(dqk)")
    target_aware: bool = Field(default=True, description="candidates see the history and themselves, not each other")
    postprocessor: Literal["timestamp_layer_norm", "layer_norm", "none"] = Field(
        default="timestamp_layer_norm", description="enable_postprocessor / use_layer_norm_postprocessor")
    causal_multitask_weights: PositiveFloat = Field(default=0.2, description="every task's loss is scaled by it")
    tasks: tuple[RankingTask, ...] = Field(default=(RankingTask(name="rating", bit=1),), min_length=1,
                                          description="binary tasks (BCE with logits)")

    @model_validator(mode="after")
    def _check(self) -> "HSTURankingConfig":
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"tasks: task names must differ, got {names}")
        if self.max_uih_len < 1:
            raise ValueError(f"max_seq_len {self.max_seq_len} leaves no history after {self.max_num_candidates} "
                             "candidates and the contextual token: raise max_seq_len")
        return self

    @property
    def contextual_len(self) -> int:
        return 1 if self.user_context else 0

    @property
    def max_uih_len(self) -> int:
        """History items a request keeps (``dataset.py``: max_seq_len - max_num_candidates - contextual features)."""
        return self.max_seq_len - self.max_num_candidates - self.contextual_len


class HSTUModelConfig(_Strict):
    """The HSTU model: the research retrieval model (sequential encoder + dot-product similarity + sampled
    softmax), or with ``task: ranking`` the DLRMv3 multitask ranking model (``ranking`` holds its own fields)."""

    task: Literal["retrieval", "ranking"] = Field(default="retrieval", description="retrieval: research HSTU; "
                                                  "ranking: DLRMv3 (dlrm-v3) multitask ranking")
    ranking: HSTURankingConfig = Field(default_factory=HSTURankingConfig, description="task: ranking only")

    num_items: PositiveInt = Field(default=3952, description="largest item id (ids are 1..num_items; 0 pads)")
    item_embedding_dim: PositiveInt = Field(default=50, description="D: item embedding and model width")
    num_blocks: PositiveInt = Field(default=2, description="STU layers")
    num_heads: PositiveInt = Field(default=1, description="attention heads")
    dqk: PositiveInt = Field(default=50, description="query/key width per head")
    dv: PositiveInt = Field(default=50, description="value/U width per head (linear_dim)")
    max_sequence_length: PositiveInt = Field(default=200, description="history items kept (the last ones)")
    gr_output_length: int = Field(default=10, ge=0, description="train_fn.gr_output_length; the padded "
                                  "length N = max_sequence_length + gr_output_length + 1 divides the scores")
    input_dropout: NonNegativeFloat = Field(default=0.2, lt=1, description="train_fn.dropout_rate on inputs")
    linear_dropout: NonNegativeFloat = Field(default=0.2, lt=1, description="dropout before the output linear")
    linear_activation: Literal["silu", "none"] = Field(default="silu", description="on all of U, V, Q, K")
    concat_ua: bool = Field(default=False, description="output input cat[U, A, U*A] instead of U*A")
    relative_attention_bias: bool = Field(default=True, description="position + time bias inside attention")
    num_time_buckets: PositiveInt = Field(default=128, description="time bias buckets (reference constant)")
    time_bucket_divisor: PositiveFloat = Field(default=0.301, description="bucket = floor(ln|dt| / this)")
    layer_norm_eps: PositiveFloat = Field(default=1e-6, description="both layer norms of an STU layer")
    user_embedding_norm: Literal["l2_norm", "layer_norm"] = Field(default="l2_norm", description="postprocessor")
    output_norm_eps: PositiveFloat = Field(default=1e-6, description="postprocessor eps")
    num_negatives: PositiveInt = Field(default=128, description="sampled-softmax negatives per position")
    temperature: PositiveFloat = Field(default=0.05, description="sampled-softmax temperature")
    item_l2_norm: bool = Field(default=True, description="L2-normalise positive/negative item embeddings")
    item_l2_norm_eps: PositiveFloat = Field(default=1e-6, description="train_fn.l2_norm_eps")
    attention: Literal["pytorch", "jagged", "triton", "fbgemm"] = Field(
        default="pytorch", description="attention backend (attention.py): pytorch materialises (B, H, L, L) "
                                       "scores (fastest here at ML shapes); jagged keeps one length group's")
    eval_max_k: PositiveInt = Field(default=2500, description="ranks past this count as eval_max_k + 1")

    @model_validator(mode="after")
    def _task(self) -> "HSTUModelConfig":
        if self.task == "retrieval" and "ranking" in self.model_fields_set:
            raise ValueError("model.ranking is set but model.task is retrieval: add task: ranking")
        if self.task == "ranking" and self.attention != "pytorch":
            raise ValueError(f"model.attention {self.attention!r}: the ranking model's target-aware attention runs on "
                             "the pytorch backend only (set attention: pytorch)")
        return self

    @property
    def padded_length(self) -> int:
        """N of the reference's attention: max_sequence_length + max_output_len (= gr_output_length + 1)."""
        return self.max_sequence_length + self.gr_output_length + 1


class HSTUOptimizerConfig(_Strict):
    """Dense optimizer for every non-embedding weight; the item table's optimizer is ``embedding``."""

    name: Literal["adamw", "adam"] = Field(default="adamw", description="research: AdamW; DLRMv3: Adam")
    lr: PositiveFloat = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = Field(default=0.0, description="the gin files set 0 (train_fn default 1e-3)")
    embedding: Literal["dense", "rowwise_adagrad"] = Field(
        default="dense", description="dense: the item table joins the dense optimizer (research); "
                                     "rowwise_adagrad: FBGEMM's row-wise Adagrad on the touched rows (DLRMv3)")
    embedding_lr: PositiveFloat = 1e-3
    embedding_eps: PositiveFloat = 1e-8

    @model_validator(mode="after")
    def _betas(self) -> "HSTUOptimizerConfig":
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")
        return self
