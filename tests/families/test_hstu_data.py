"""sasrec_csv (the reference's layout, its leave-one-out split, refusals) and the synthetic sequences."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlrmbench.data.errors import DatasetError
from dlrmbench_plugins.families.hstu.sasrec_csv import looks_like_sasrec_csv, read_sasrec_csv
from dlrmbench_plugins.families.hstu.synthetic import SyntheticSequencesConfig, generate

HEADER = "index,user_id,sequence_item_ids,sequence_ratings,sequence_timestamps,sex,age_group,occupation,zip_code\n"
ROWS = [
    '0,5,"10,11,12,13,14","5,4,3,2,1","100,200,300,400,500",1,2,3,4\n',
    '1,2,"3,1,4","1,1,1","7,7,9",0,1,2,3\n',
]


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "sasrec_format.csv"
    path.write_text(header + "".join(rows))
    return path


def test_reads_the_reference_layout_and_splits_leave_one_out(tmp_path):
    path = _write(tmp_path, *ROWS)
    assert looks_like_sasrec_csv(path)
    data = read_sasrec_csv(path)
    assert data.num_users == 2 and data.num_items == 14
    assert data.all_item_ids.tolist() == [1, 3, 4, 10, 11, 12, 13, 14]
    train = data.batch(torch.tensor([0, 1]), "train", max_length=2)
    # train drops the last item, predicts the one before it from (at most) the last 2 before that
    assert train.ids.tolist() == [11, 12, 3] and train.offsets.tolist() == [0, 2, 3]
    assert train.target_ids.tolist() == [13, 1] and train.target_timestamps.tolist() == [400, 7]
    assert train.supervision_ids().tolist() == [12, 13, 1]
    assert train.next_timestamps().tolist() == [300, 400, 7]
    ev = data.batch(torch.tensor([0, 1]), "eval", max_length=10)
    assert ev.ids.tolist() == [10, 11, 12, 13, 3, 1] and ev.target_ids.tolist() == [14, 4]
    assert ev.target_ratings.tolist() == [1, 1]


@pytest.mark.parametrize("row, message", [
    ('0,5,"10,11,x","1,1,1","1,2,3"\n', r"line 2: field 'sequence_item_ids' holds 'x', not an integer"),
    ('0,5,"","",""\n', r"line 2: field 'sequence_item_ids' is empty"),
    ('0,5,"10,11","1,1","1,2"\n', r"line 2: field 'sequence_item_ids' has 2 item\(s\); the leave-one-out split "
                                 r"needs at least 3"),
    ('0,5,"10,11,12","1,1","1,2,3"\n', r"line 2: sequence_item_ids has 3 values, sequence_ratings 2"),
    ('0,5,"10,0,12","1,1,1","1,2,3"\n', r"line 2: field 'sequence_item_ids' holds id 0; ids must be >= 1"),
    ('0,5,"10,11,99","1,1,1","1,2,3"\n', r"line 2: field 'sequence_item_ids' holds id 99 > num_items 50"),
    ('0,5,"10,11,12","1,1,1","1,5,3"\n', r"line 2: field 'sequence_timestamps' goes back in time at position 2"),
])
def test_bad_rows_are_refused_naming_file_line_and_field(tmp_path, row, message):
    path = _write(tmp_path, row, header="index,user_id,sequence_item_ids,sequence_ratings,sequence_timestamps\n")
    with pytest.raises(DatasetError, match=message) as err:
        read_sasrec_csv(path, num_items=50)
    assert str(err.value).startswith(str(path))


def test_missing_columns_and_files_are_refused(tmp_path):
    path = _write(tmp_path, '0,"1,2,3"\n', header="user_id,sequence_item_ids\n")
    assert not looks_like_sasrec_csv(path)
    with pytest.raises(DatasetError, match=r"line 1: missing column\(s\) sequence_ratings, sequence_timestamps"):
        read_sasrec_csv(path)
    with pytest.raises(DatasetError, match="no such file"):
        read_sasrec_csv(tmp_path / "absent.csv")


def test_amazon_books_ids_shift_by_one(tmp_path):
    data = read_sasrec_csv(_write(tmp_path, '0,1,"0,1,2","1,1,1","1,2,3"\n'), shift_ids=1)
    assert data.ids.tolist() == [1, 2, 3]


def test_synthetic_sequences_are_deterministic_and_valid():
    cfg = SyntheticSequencesConfig(num_users=50, num_items=200, num_clusters=10, min_length=5, max_length=9)
    a, b = generate(cfg), generate(cfg)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.timestamps, b.timestamps)
    lengths = a.offsets.diff()
    assert int(lengths.min()) >= 5 and int(lengths.max()) <= 9
    assert int(a.ids.min()) >= 1 and int(a.ids.max()) <= 200
    for u in range(a.num_users):
        ts = a.timestamps[a.offsets[u]:a.offsets[u + 1]]
        assert bool((ts[1:] >= ts[:-1]).all())
    with pytest.raises(ValueError, match="multiple of num_clusters"):
        SyntheticSequencesConfig(num_items=201, num_clusters=10)


def test_the_planted_signal_is_there():
    """Consecutive items share their cluster far more often than the 1 / num_clusters of chance."""
    cfg = SyntheticSequencesConfig(num_users=200, num_items=400, num_clusters=20, signal=0.8, drift=0.05)
    data = generate(cfg)
    cluster = (data.ids - 1) // (cfg.num_items // cfg.num_clusters)
    same = (cluster[1:] == cluster[:-1]).float()
    inside = torch.ones_like(same, dtype=torch.bool)
    inside[data.offsets[1:-1] - 1] = False  # pairs across two users
    assert float(same[inside].mean()) > 0.5
