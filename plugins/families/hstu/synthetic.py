"""``synthetic`` user sequences with a planted, drifting signal, generated with torch on the device.

Items are split into ``num_clusters`` equal clusters, each with its own Zipf popularity over a random order of its
items. Every user follows one focus cluster that drifts to the next cluster with probability ``drift`` at each
interaction; an interaction is drawn from the focus cluster with probability ``signal`` (Zipf within it), otherwise
uniformly from the whole catalogue. Timestamps grow by exponential gaps. A model that reads the recent history
can tell the focus cluster and its popular items, so HR@10 lies far above a random ranking's 10 / num_items;
a model that cannot learn stays near it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from dlrmbench_plugins.families.hstu.config import MIN_LENGTH


class SyntheticSequencesConfig(BaseModel):
    """How the synthetic sequences are drawn (every field changes the data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_users: PositiveInt = 2048
    num_items: PositiveInt = 2000
    num_clusters: PositiveInt = 40
    min_length: int = Field(default=20, ge=MIN_LENGTH, description="interactions per user, at least")
    max_length: PositiveInt = Field(default=60, description="interactions per user, at most")
    signal: float = Field(default=0.8, ge=0, le=1, description="share of interactions from the focus cluster")
    drift: float = Field(default=0.05, ge=0, le=1, description="chance per interaction that the focus moves on")
    zipf: NonNegativeFloat = Field(default=1.2, description="popularity exponent inside a cluster")
    mean_gap_seconds: PositiveFloat = 86400.0
    seed: int = 0

    @model_validator(mode="after")
    def _shape(self) -> "SyntheticSequencesConfig":
        if self.max_length < self.min_length:
            raise ValueError(f"max_length {self.max_length} < min_length {self.min_length}")
        if self.num_items % self.num_clusters:
            raise ValueError(f"num_items {self.num_items} must be a multiple of num_clusters {self.num_clusters}")
        return self


def generate(cfg: SyntheticSequencesConfig, device: str = "cpu"):  # -> UserSequences (imports torch)
    """Draw the sequences of ``cfg`` on ``device``; the same config gives the same data."""
    import torch

    from dlrmbench_plugins.families.hstu.jagged import offsets_from_lengths, positions
    from dlrmbench_plugins.families.hstu.sequences import UserSequences

    g = torch.Generator(device=device).manual_seed(cfg.seed)
    per = cfg.num_items // cfg.num_clusters
    u = cfg.num_users
    lengths = torch.randint(cfg.min_length, cfg.max_length + 1, (u,), generator=g, device=device)
    offsets = offsets_from_lengths(lengths)
    total = int(offsets[-1])
    user = torch.repeat_interleave(torch.arange(u, device=device), lengths, output_size=total)
    pos = positions(offsets)
    moves = (torch.rand(total, generator=g, device=device) < cfg.drift) & (pos > 0)
    steps = torch.cumsum(moves.long(), 0)
    steps = steps - steps[offsets[:-1]][user]  # moves since this user's first interaction
    start_cluster = torch.randint(0, cfg.num_clusters, (u,), generator=g, device=device)
    focus = (start_cluster[user] + steps) % cfg.num_clusters
    weights = 1.0 / torch.arange(1, per + 1, device=device, dtype=torch.float64) ** cfg.zipf
    rank = torch.multinomial(weights, total, replacement=True, generator=g)
    order = torch.argsort(torch.rand(cfg.num_clusters, per, generator=g, device=device), dim=1)
    in_focus = focus * per + order[focus, rank] + 1
    anywhere = torch.randint(1, cfg.num_items + 1, (total,), generator=g, device=device)
    ids = torch.where(torch.rand(total, generator=g, device=device) < cfg.signal, in_focus, anywhere)
    gaps = torch.empty(total, device=device, dtype=torch.float64).exponential_(1.0 / cfg.mean_gap_seconds,
                                                                               generator=g)
    gaps = torch.where(pos == 0, torch.zeros_like(gaps), gaps).round().long()
    first = torch.randint(1_000_000_000, 1_100_000_000, (u,), generator=g, device=device)
    cum = torch.cumsum(gaps, 0)
    timestamps = first[user] + cum - cum[offsets[:-1]][user]
    ratings = torch.randint(1, 6, (total,), generator=g, device=device)
    return UserSequences(ids=ids, timestamps=timestamps, ratings=ratings, offsets=offsets,
                         num_items=cfg.num_items, all_item_ids=torch.arange(1, cfg.num_items + 1, device=device))
