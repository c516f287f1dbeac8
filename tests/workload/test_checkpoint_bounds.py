"""Checkpoints whose archive or metadata claim huge sizes are refused before anything is allocated, naming the
file and the field (``checkpoint.load`` of a run, and ``export --checkpoint``, which builds from the metadata)."""

from __future__ import annotations

import collections
import io
import pickle
import resource
import zipfile
from pathlib import Path

import pytest
import torch

from dlrmbench.errors import UserError
from dlrmbench.export.source import read_checkpoint_shape
from dlrmbench.workload.build import build_model, resolve
from dlrmbench.workload.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import run_cli
from .helpers import TABLES, tiny_case


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    case = tiny_case()
    save_checkpoint(build_model(resolve(case), TABLES), path, case, TABLES)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {m.filename: archive.read(m) for m in archive.infolist()}


def _inflating(saved: Path, out: Path, inflated_mib: int) -> Path:
    """The checkpoint with one storage record stored deflated, inflating to ``inflated_mib`` MiB."""
    members = _members(saved)
    storage = next(name for name in members if "/data/" in name)
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            if name != storage:
                archive.writestr(name, data)  # stored, as torch writes
        bomb = zipfile.ZipInfo(storage)
        bomb.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(bomb, "w") as handle:  # streamed: never all in memory here
            for _ in range(inflated_mib):
                handle.write(bytes(1 << 20))
    return out


def _claiming_tables(saved: Path, out: Path, table_sizes: list[int]) -> Path:
    payload = torch.load(saved, weights_only=True)
    payload["shape"]["table_sizes"] = table_sizes
    torch.save(payload, out)
    return out


def _claiming_storage(saved: Path, out: Path, numel: int) -> Path:
    """A storage record of 16 bytes whose pickled header claims ``numel`` elements."""
    class Marker:
        pass

    class Rebuilt:
        def __reduce__(self):  # noqa: ANN204
            from torch._utils import _rebuild_tensor_v2

            return (_rebuild_tensor_v2, (Marker(), 0, (4,), (1,), False, collections.OrderedDict()))

    class Claiming(pickle.Pickler):
        def persistent_id(self, obj):  # noqa: ANN001, ANN202
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if isinstance(obj, Marker) else None

    buffer = io.BytesIO()
    Claiming(buffer, protocol=2).dump({"format": "dlrmbench-checkpoint-1", "shape": {}, "state": {"w": Rebuilt()}})
    writer = torch._C.PyTorchFileWriter(str(out))
    for name, data in (("data.pkl", buffer.getvalue()), ("data/0", bytes(16)), ("version", b"3\n"),
                       ("byteorder", b"little")):
        writer.write_record(name, data, len(data))
    writer.write_end_of_file()
    return out


def _refusals(path: Path) -> list[str]:
    """The messages of a run's checkpoint.load and of export's shape reader."""
    messages = []
    with pytest.raises(UserError) as info:
        load_checkpoint(build_model(resolve(tiny_case()), TABLES), path, tiny_case(), TABLES)
    messages.append(info.value.message)
    with pytest.raises(UserError) as info:
        read_checkpoint_shape(path)
    messages.append(info.value.message)
    return messages


def test_a_member_that_inflates_is_refused_before_it_is_read(saved: Path, tmp_path: Path) -> None:
    crafted = _inflating(saved, tmp_path / "bomb.pt", inflated_mib=256)  # inflated, past the 64 MiB below
    assert crafted.stat().st_size < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for message in _refusals(crafted):
        assert str(crafted) in message and "claims compression method 8" in message, message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 << 10  # KiB: nothing inflated


def test_metadata_claiming_huge_tables_is_refused_before_a_model_is_built(saved: Path, tmp_path: Path) -> None:
    for sizes in ([2**31 - 2, 5, 3], [7, 5, 3, 10**6]):
        crafted = _claiming_tables(saved, tmp_path / "tables.pt", sizes)
        for message in _refusals(crafted):
            assert str(crafted) in message and "field 'shape' claims a model of at least" in message, message
            assert f"shape.table_sizes up to {max(sizes):,} rows" in message
    genuine = read_checkpoint_shape(saved)  # the honest file still loads
    assert genuine["table_sizes"] == TABLES


def test_a_storage_header_claiming_more_than_its_record_is_refused(tmp_path: Path) -> None:
    crafted = _claiming_storage(tmp_path, tmp_path / "storage.pt", numel=2**40)
    for message in _refusals(crafted):
        assert str(crafted) in message and "does not match expected size" in message, message


def test_export_refuses_a_crafted_checkpoint_with_exit_2(saved: Path, tmp_path: Path) -> None:
    crafted = _claiming_tables(saved, tmp_path / "tables.pt", [2**31 - 2, 5, 3])
    done = run_cli("export", "--checkpoint", str(crafted), "-o", str(tmp_path / "out"), timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "field 'shape' claims" in done.stderr
    assert not (tmp_path / "out").exists()
