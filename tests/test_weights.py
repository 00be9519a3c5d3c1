"""weights/last and weights/best: staged folders, the swap, the epoch stamp and crash recovery (no torch)."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from selfmm.runs.reader import RunError
from selfmm.runs.weights import WeightSlot, check_stamp, stamp_metadata, stamp_of


def _save(folder, epoch: int) -> None:
    save_file({"w": np.full(2, epoch, np.float32)}, str(folder / "model.safetensors"), metadata=stamp_metadata(epoch))


def _by_stamp(epoch):
    return lambda d: stamp_of(d / "model.safetensors") == epoch


def test_stamp_round_trip_and_unreadable(tmp_path):
    _save(tmp_path, 12)
    assert stamp_of(tmp_path / "model.safetensors") == 12
    save_file({"w": np.zeros(1, np.float32)}, str(tmp_path / "plain.safetensors"))
    assert stamp_of(tmp_path / "plain.safetensors") is None
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 3)
    assert stamp_of(tmp_path / "junk.safetensors") is None and stamp_of(tmp_path / "missing") is None
    check_stamp(tmp_path / "model.safetensors", 12)
    with pytest.raises(RunError, match="holds the weights of epoch 12, but run.json says the best epoch is 5"):
        check_stamp(tmp_path / "model.safetensors", 5)


def test_swap_then_crash_before_commit_recovers_the_committed_folder(tmp_path):
    """Epoch 5 committed; epoch 12's best weights staged and swapped in, then the process dies before the
    commit: recovery by stamp brings epoch 5 back (the MAE-0.514-instead-of-0.577 defect)."""
    slot = WeightSlot(tmp_path, "best")
    _save(slot.stage(), 5)
    slot.swap()
    slot.settle()
    _save(slot.stage(), 12)
    slot.swap()  # killed here: run.json still says best epoch 5
    assert slot.recover(_by_stamp(5)) == slot.current
    assert stamp_of(slot.current / "model.safetensors") == 5
    assert not slot.prev.exists() and not slot.new.exists()


def test_recover_drops_half_staged_and_keeps_committed_current(tmp_path):
    slot = WeightSlot(tmp_path, "last")
    _save(slot.stage(), 3)
    slot.swap()
    _save(slot.stage(), 4)  # killed while staging epoch 4
    assert slot.recover(_by_stamp(3)) == slot.current and not slot.new.exists()
    assert stamp_of(slot.current / "model.safetensors") == 3
    assert slot.recover(_by_stamp(9)) is None
    slot.clear()
    assert not slot.current.exists()
