"""The HSTU family's configuration: every option of the reference that changes the numbers is a field.

Defaults are the reference's ML-1M HSTU configuration (GR ``configs/ml-1m/hstu-sampled-softmax-n128-final.gin``
over ``research/trainer/train.py``'s ``train_fn`` and ``encoder_utils.hstu_encoder``); docs/hstu.md lists the
source of each. No torch here: suites validate without it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator


MIN_LENGTH = 3  # a user's interactions, at least: the training history (all but the last two) must not be empty


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HSTUModelConfig(_Strict):
    """The research HSTU retrieval model (sequential encoder + dot-product similarity + sampled softmax)."""

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
