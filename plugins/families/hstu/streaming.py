"""The MLPerf dlrm-v3 streaming synthetic data (GR ``dlrm_v3/streaming_synthetic_data.py``, INF
``recommendation/dlrm_v3/streaming_synthetic_data.py``), generated in memory at a case's scale.

The reference's process, vectorised over users (numpy; the same parameters give the same data, not the
reference's bytes):

- each user follows ``categories_per_user`` of ``num_categories`` categories; items ``c * items_per_category ..``
  belong to category c; every item has a fixed rating drawn from {5, 4, 3, 2, 1} with p (.2, .25, .25, .2, .1);
- slots: a base slot, ``num_timestamps * train_ratio`` training timestamps, then the inference timestamps; at
  each timestamp a user is sampled with ``user_sampling_ratio`` (the base slot always) and draws
  ``round(N(m, m // 4))`` items (at least ``num_eval_candidates + 1``), m = ``num_items * avg_samples_per_item /
  num_users / num_timestamps``;
- an item's category follows a Polya urn over the user's categories (alpha ~ U{1..500} per draw, counts
  carried over time); its index is uniform in [0, items_per_category * max(t + 1, 1) / num_timestamps): the
  catalogue grows with time;
- its rating is the mean of the item's fixed rating and a rating of the category's quarter in the user's list,
  oscillating with cos(t pi / 4) (the reference's table);
- a training request at timestamp t: history = the user's items of every earlier slot; candidates =
  ``num_eval_candidates`` of its items at t; an inference request: ``num_inference_candidates`` items at t are
  the candidates and a ``round(N(m, m // 4))`` subset of them joins later histories
  (``dlrm_v3/datasets/synthetic_streaming.py`` ``_process_line``).

The dataset then turns ratings into actions (``synthetic_streaming.py`` ``load_item``): a history item's action
is ``action_weights[int(rating) - 1]``, a candidate's label ``rating >= 3.5``; every timestamp is 1.
The reference's separate eval slot (``num_eval_candidates`` items after the training timestamps) is not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

MAX_INTERACTIONS = 50_000_000  # what one process holds in memory; the reference's 2 TB set is files
MAX_ITEMS_IN_MEMORY = 100_000_000  # one float per item (its fixed rating)


class StreamingConfig(BaseModel):
    """The generator's parameters; defaults are the reference's ``main()`` (the dlrm-v3 data set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_users: PositiveInt = Field(default=5_000_000, description="users (reference: 5M)")
    num_items: PositiveInt = Field(default=1_000_000_000, description="items (reference: 1B)")
    num_categories: PositiveInt = Field(default=128, description="categories (reference: 128)")
    categories_per_user: PositiveInt = Field(default=4, description="categories a user follows (reference: 4)")
    num_timestamps: PositiveInt = Field(default=100, description="timestamps (reference: 100)")
    avg_samples_per_item: PositiveInt = Field(default=50, description="interactions per item (reference: 50)")
    train_ratio: float = Field(default=0.9, gt=0, lt=1, description="share of training timestamps (0.9)")
    user_sampling_ratio: float = Field(default=0.7, gt=0, le=1, description="chance a user is active at a "
                                       "timestamp (0.7)")
    num_eval_candidates: PositiveInt = Field(default=32, description="candidates of a training request (32)")
    num_inference_candidates: PositiveInt = Field(default=2048, description="candidates of an inference "
                                                  "request (2048)")
    action_weights: tuple[PositiveInt, ...] = Field(default=(1, 2, 4, 8, 16), description="action bit of "
                                                    "ratings 1..5 (DLRMv3 config action_weights)")
    seed: int = Field(default=1001, description="reference: 1001 (+ file index)")

    @property
    def items_per_category(self) -> int:
        return self.num_items // self.num_categories

    @property
    def train_timestamps(self) -> int:
        return int(self.num_timestamps * self.train_ratio)

    @property
    def mean_items_per_timestamp(self) -> int:
        """avg_seq_len_per_timestamp of the reference (an integer, as there)."""
        return int(self.num_items * self.avg_samples_per_item / self.num_users / self.num_timestamps)

    @model_validator(mode="after")
    def _check(self) -> "StreamingConfig":
        if self.categories_per_user > self.num_categories:
            raise ValueError(f"categories_per_user {self.categories_per_user} exceeds num_categories "
                             f"{self.num_categories}: lower categories_per_user")
        if self.items_per_category < self.num_timestamps:
            raise ValueError(f"num_items {self.num_items} gives {self.items_per_category} items per category, fewer "
                             f"than num_timestamps {self.num_timestamps}: the first timestamp could draw no item; "
                             "raise num_items or lower num_timestamps")
        if self.train_timestamps < 1 or self.train_timestamps >= self.num_timestamps:
            raise ValueError(f"train_ratio {self.train_ratio} of num_timestamps {self.num_timestamps} leaves "
                             f"{self.train_timestamps} training timestamps: it needs at least one, and one "
                             "inference timestamp after them")
        if len(self.action_weights) < 5:
            raise ValueError(f"action_weights needs one bit per rating 1..5, got {len(self.action_weights)}")
        return self


def check_fits_in_memory(cfg: StreamingConfig) -> None:
    """Refuse, naming the fields, a configuration this in-memory generator cannot hold (the reference's full
    data set is 2 TB of files); checked when the data is built, so a full-scale suite still validates."""
    if cfg.num_items > MAX_ITEMS_IN_MEMORY:
        raise ValueError(f"num_items {cfg.num_items:,} is over {MAX_ITEMS_IN_MEMORY:,}, what this in-memory "
                         "generator holds: lower num_items (a scaled-down case) or use the reference's files")
    expected = cfg.num_users * (1 + cfg.num_timestamps * cfg.user_sampling_ratio) * max(
        cfg.mean_items_per_timestamp, cfg.num_eval_candidates + 1)
    if expected > MAX_INTERACTIONS:
        raise ValueError(f"num_users {cfg.num_users:,} x num_timestamps {cfg.num_timestamps} x about "
                         f"{cfg.mean_items_per_timestamp} items each is about {expected:,.0f} interactions, over "
                         f"the {MAX_INTERACTIONS:,} this in-memory generator holds: lower num_users or "
                         "num_timestamps (--scale-down lowers num_users)")


@dataclass
class StreamingRequests:
    """Requests of one split: per request its user, timestamp, history and candidates (numpy arrays)."""

    users: Any
    timestamps: Any
    uih_items: list[Any]
    uih_ratings: list[Any]
    cand_items: list[Any]
    cand_ratings: list[Any]

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class StreamingData:
    """The training requests (training timestamps, in order) and the inference requests (after them)."""

    config: StreamingConfig
    train: StreamingRequests
    inference: StreamingRequests


def _category_ratings(rng: Any, position: Any, per_user: int, t: int) -> Any:
    """The rating of the category at ``position`` in its user's list at timestamp t (the reference's quarters)."""
    import numpy as np

    cos = [np.cos((t + s) * np.pi / 4) for s in (0, 2, 4)]
    tables = [([4.5 + 0.5 * cos[0], 4.0 + 0.5 * cos[1]], [0.8, 0.2]),
              ([4.5 + 0.5 * cos[0], 4.0 + 0.5 * cos[1], 3.5 + 0.5 * cos[2]], [0.1, 0.8, 0.1]),
              ([3.5 + 0.5 * cos[0], 3.0 + 0.5 * cos[1], 2.5 + 0.5 * cos[2]], [0.1, 0.8, 0.1]),
              ([2.5 + 0.5 * cos[0], 2.0 + 0.5 * cos[1], 1.5 + 0.5 * cos[2]], [0.1, 0.8, 0.1])]
    quarter, half, three = per_user // 4, per_user // 2, per_user // 4 * 3
    which = np.where(position < quarter, 0, np.where(position < half, 1, np.where(position < three, 2, 3)))
    out = np.empty(position.shape[0])
    for q, (values, p) in enumerate(tables):
        sel = which == q
        out[sel] = rng.choice(values, size=int(sel.sum()), p=p)
    return out


def generate_streaming(cfg: StreamingConfig) -> StreamingData:
    """Draw every slot of every user, then assemble the training and inference requests."""
    import numpy as np

    check_fits_in_memory(cfg)
    rng = np.random.default_rng(cfg.seed)
    u, per = cfg.num_users, cfg.categories_per_user
    item_rating = rng.choice([5.0, 4.0, 3.0, 2.0, 1.0], size=cfg.num_items, p=[0.2, 0.25, 0.25, 0.2, 0.1])
    categories = np.argsort(rng.random((u, cfg.num_categories)), axis=1)[:, :per]
    counts = np.zeros((u, per))
    m, minimum = cfg.mean_items_per_timestamp, cfg.num_eval_candidates + 1
    slots: list[tuple[Any, list[Any], list[Any], list[Any], list[Any]]] = []  # (active users, uih, ratings, cands..)
    train_ts = cfg.train_timestamps
    for t in [-1] + list(range(cfg.num_timestamps)):
        inference = t >= train_ts
        active = np.arange(u) if t == -1 else np.flatnonzero(rng.random(u) < cfg.user_sampling_ratio)
        drawn = np.maximum(np.rint(rng.normal(m, m // 4, size=active.size)).astype(np.int64), minimum)
        lengths = np.full(active.size, cfg.num_inference_candidates) if inference else drawn
        alpha = rng.integers(1, 501, size=active.size).astype(np.float64)
        p = (alpha[:, None] / per + counts[active]) / (alpha + counts[active].sum(1))[:, None]
        owner = np.repeat(np.arange(active.size), lengths)
        cdf = np.cumsum(p, axis=1)
        position = np.minimum((rng.random(owner.size)[:, None] > cdf[owner]).sum(1), per - 1)
        np.add.at(counts, (active[owner], position), 1)
        category = categories[active[owner], position]
        end = int(cfg.items_per_category * max(t + 1, 1) / cfg.num_timestamps)
        items = category * cfg.items_per_category + rng.integers(0, end, size=owner.size)
        ratings = (_category_ratings(rng, position, per, t) + item_rating[items]) / 2
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        uih, uih_r, cand, cand_r = [], [], [], []
        for j in range(active.size):
            its, rts = items[bounds[j]:bounds[j + 1]], ratings[bounds[j]:bounds[j + 1]]
            if inference:
                pick = rng.choice(its.size, size=min(int(drawn[j]), its.size), replace=False)
                uih.append(its[pick]), uih_r.append(rts[pick]), cand.append(its), cand_r.append(rts)
            else:
                pick = rng.choice(its.size, size=cfg.num_eval_candidates, replace=False)
                uih.append(its), uih_r.append(rts), cand.append(its[pick]), cand_r.append(rts[pick])
        slots.append((active, uih, uih_r, cand, cand_r))
    return StreamingData(cfg, _requests(slots, u, range(0, train_ts)),
                         _requests(slots, u, range(train_ts, cfg.num_timestamps)))


def _requests(slots: list[Any], num_users: int, timestamps: range) -> StreamingRequests:
    """The requests at ``timestamps``: each active user's earlier slots as history, its slot's candidates."""
    import numpy as np

    history: list[list[Any]] = [[] for _ in range(num_users)]
    history_r: list[list[Any]] = [[] for _ in range(num_users)]
    out = StreamingRequests([], [], [], [], [], [])
    for index, (active, uih, uih_r, cand, cand_r) in enumerate(slots):
        t = index - 1
        if t in timestamps:
            for j, user in enumerate(active):
                out.users.append(int(user)), out.timestamps.append(t)
                out.uih_items.append(np.concatenate(history[user]) if history[user] else np.zeros(0, np.int64))
                out.uih_ratings.append(np.concatenate(history_r[user]) if history_r[user] else np.zeros(0))
                out.cand_items.append(cand[j]), out.cand_ratings.append(cand_r[j])
        if t < timestamps.stop - 1:
            for j, user in enumerate(active):
                history[user].append(uih[j]), history_r[user].append(uih_r[j])
    return out
