"""Serving the HSTU encoder: a module with jagged inputs (values + offsets) and TorchScript / ONNX export of it.

:class:`ServingEncoder` maps ``ids (T,)``, ``timestamps (T,)``, ``offsets (B + 1,)`` and ``query_timestamps (B,)``
(when the recommendation is asked: the time the reference's time bias uses for the last history item) to the (B, D)
normalised user vectors that retrieval ranks items by. To give the exporters static shapes it pads every history to
``max_sequence_length`` (the one place it pads; histories must not be longer) and runs the materialising attention
on that layout; the same layer weights as training, in eval mode. :func:`export_encoder` writes it and
:func:`check_export` runs the written files against eager on batches of other sizes. :class:`ServedRetrieval`
adds the retrieval itself (the top K items outside the history): what ``dlrmbench export`` and serving run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from dlrmbench_plugins.families.hstu.attention import dense_attention
from dlrmbench_plugins.families.hstu.jagged import SequenceBatch
from dlrmbench_plugins.families.hstu.model import HSTURetrieval

Format = Literal["torchscript", "onnx"]
INPUTS = ["ids", "timestamps", "offsets", "query_timestamps"]


class ServingEncoder(nn.Module):
    """The trained model's encoder over jagged inputs, padded to max_sequence_length inside."""

    def __init__(self, model: HSTURetrieval) -> None:
        super().__init__()
        self.model = model.eval()

    def encode(self, ids: torch.Tensor, timestamps: torch.Tensor, offsets: torch.Tensor,
               query_timestamps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(users (B, D), the padded history ids (B, L), 0 past each user's length): the history is padded
        once, and a served model that masks the history reuses it."""
        cfg = self.model.cfg
        lengths = offsets[1:] - offsets[:-1]
        col = torch.arange(cfg.max_sequence_length, device=offsets.device).unsqueeze(0)
        valid = col < lengths.unsqueeze(1)
        index = torch.minimum(offsets[:-1].unsqueeze(1) + col, offsets[-1:] - 1)
        ids_p = torch.where(valid, ids[index], torch.zeros_like(index))
        ts_p = torch.where(valid, timestamps[index], torch.zeros_like(index))
        shifted = torch.cat([ts_p[:, 1:], torch.zeros_like(ts_p[:, :1])], dim=1)
        next_p = torch.where(col == (lengths - 1).unsqueeze(1), query_timestamps.unsqueeze(1), shifted)
        x = self.model.item_emb(ids_p) * (cfg.item_embedding_dim ** 0.5) + self.model.pos_emb(col)
        for layer in self.model.layers:
            u, v, q, k = layer.project(x)
            a = dense_attention(q, k, v, next_p, ts_p, layer.rel_bias, cfg.num_heads, cfg.padded_length)
            x = layer.combine(x, u, a)
        last = x.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, x.shape[-1])).squeeze(1)
        return self.model._postprocess(last), ids_p

    def forward(self, ids: torch.Tensor, timestamps: torch.Tensor, offsets: torch.Tensor,
                query_timestamps: torch.Tensor) -> torch.Tensor:
        return self.encode(ids, timestamps, offsets, query_timestamps)[0]


class ServedRetrieval(nn.Module):
    """Retrieval as served: the encoder, then the ``k`` items not in the user's history with the highest dot
    product against the (normalised) item vectors: ``(items (B, k) int64, scores (B, k) float32)``, best first.

    Item ``i`` is column ``i`` of the scores; column 0 (the padding id) and the history's items are masked to
    -inf with one scatter over the padded history, and a masked item that still reaches the top ``k`` (fewer
    than ``k`` candidates) is answered as id 0. The item vectors are computed once, as the training model's
    ``item_vectors`` gives them.
    """

    def __init__(self, model: HSTURetrieval, k: int) -> None:
        super().__init__()
        self.encoder = ServingEncoder(model)
        self.k = k
        with torch.no_grad():
            items = model.item_vectors(torch.arange(model.cfg.num_items + 1)).float().clone()
        self.register_buffer("items", items)

    def forward(self, ids: torch.Tensor, timestamps: torch.Tensor, offsets: torch.Tensor,
                query_timestamps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        users, seen = self.encoder.encode(ids, timestamps, offsets, query_timestamps)  # padding -> item 0
        scores = users @ self.items.T  # (B, 1 + num_items)
        seen = torch.cat([torch.zeros_like(seen[:, :1]), seen], dim=1)  # item 0 is never a candidate, full or not
        mask = torch.zeros_like(scores).scatter(1, seen, 1.0)
        scores = scores.masked_fill(mask > 0, float("-inf"))
        top, items = torch.topk(scores, self.k, dim=1)
        return torch.where(torch.isinf(top), torch.zeros_like(items), items), top


def _inputs(batch: SequenceBatch) -> tuple[torch.Tensor, ...]:
    return batch.ids, batch.timestamps, batch.offsets, batch.target_timestamps


def export_encoder(model: HSTURetrieval, example: SequenceBatch, path: Path, fmt: Format) -> Path:
    """Write the serving encoder as TorchScript (traced) or ONNX (dynamo exporter; T and B dynamic)."""
    module = ServingEncoder(model)
    args = _inputs(example)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            torch.jit.trace(module, args, check_trace=False).save(str(path))
        else:
            import logging

            logging.getLogger("torch.onnx").setLevel(logging.ERROR)
            tokens = torch.export.Dim("tokens", min=2, max=1 << 30)
            batch = torch.export.Dim("batch", min=2, max=1 << 20)
            dynamic = {"ids": {0: tokens}, "timestamps": {0: tokens}, "offsets": {0: batch + 1},
                       "query_timestamps": {0: batch}}
            program = torch.onnx.export(module, args, input_names=INPUTS, output_names=["user_vectors"],
                                        dynamic_shapes=dynamic, opset_version=18, dynamo=True, verbose=False)
            program.save(str(path))
    return path


def check_export(model: HSTURetrieval, path: Path, fmt: Format, batches: list[SequenceBatch]) -> float:
    """Largest |exported - eager| user-vector difference over ``batches`` (eager: the jagged training path)."""
    worst = 0.0
    if fmt == "torchscript":
        loaded = torch.jit.load(str(path))
        run = lambda b: loaded(*_inputs(b))  # noqa: E731
    else:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        run = lambda b: torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(INPUTS, _inputs(b))})[0])  # noqa: E731
    model.eval()
    for b in batches:
        with torch.no_grad():
            worst = max(worst, float((run(b) - model.user_vectors(b)).abs().max()))
    return worst
