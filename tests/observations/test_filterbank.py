"""Filterbank files: headers, coarse channels, .fil and .h5 alike, bad files named."""

import numpy as np
import pytest

from setibl.errors import DataError
from setibl.observations.filterbank import Header, coarse_blocks, read_header
from tests.conftest import write_setigen_h5

setigen = pytest.importorskip("setigen")


def test_coarse_channel_count_from_the_header():
    def header(channels, nfpc=0):
        return Header(6000.0, -2.8e-6, 18.25, 16, channels, fine_per_coarse=nfpc)

    assert header(64 * 2**20).coarse_channel_count() == 64  # BL high resolution
    assert header(4096, nfpc=512).coarse_channel_count() == 8
    assert header(1024).coarse_channel_count() == 1


def test_fil_and_h5_files_give_the_same_blocks(tmp_path):
    from blimpy import Waterfall

    write_setigen_h5(tmp_path / "frame.h5")
    fil = tmp_path / "frame.fil"
    Waterfall(str(tmp_path / "frame.h5")).write_to_fil(str(fil))
    header = read_header(fil)
    blocks = [block for _, _, block in coarse_blocks(fil, header, 4)]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), Waterfall(str(fil)).data[:, 0])


def test_bad_files_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="garbage.h5"):
        read_header(garbage)
    with pytest.raises(DataError, match="not found"):
        read_header(tmp_path / "missing.fil")


def test_hdf5_files_are_known_by_content_not_name(tmp_path):
    import shutil

    write_setigen_h5(tmp_path / "frame.h5", time_steps=16, channels=256)
    renamed = tmp_path / "frame.hdf5"
    shutil.copy(tmp_path / "frame.h5", renamed)
    blocks = [b for _, _, b in coarse_blocks(renamed, read_header(renamed), 2)]
    same = [
        b for _, _, b in coarse_blocks(tmp_path / "frame.h5", read_header(tmp_path / "frame.h5"), 2)
    ]
    assert len(blocks) == 2
    np.testing.assert_array_equal(np.concatenate(blocks, 1), np.concatenate(same, 1))


def _mapped(path) -> bool:
    """Whether ``path`` is memory-mapped into this process now (Linux)."""
    with open("/proc/self/maps") as maps:
        return any(line.rstrip().endswith(str(path)) for line in maps)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/maps"), reason="Linux only")
def test_a_fil_file_is_not_left_mapped_between_blocks(tmp_path):
    """Pages of a mapping count as resident memory until it is unmapped: a mapping kept over
    the whole file would grow to the file's size, so each block is read and unmapped."""
    from blimpy import Waterfall

    write_setigen_h5(tmp_path / "frame.h5")
    fil = (tmp_path / "frame.fil").resolve()
    Waterfall(str(tmp_path / "frame.h5")).write_to_fil(str(fil))
    header = read_header(fil)
    blocks = coarse_blocks(fil, header, 4)
    first = next(blocks)[2]
    assert first.flags.owndata and not _mapped(fil)  # a copy; the file is not mapped
    rest = [block for _, _, block in blocks]
    assert len(rest) == 3 and not _mapped(fil)
    heads = [b for _, _, b in coarse_blocks(fil, header, 4, time_steps=3)]
    np.testing.assert_array_equal(heads[1], rest[0][:3])


@pytest.mark.parametrize("kind", ["h5", "fil"])
def test_a_block_the_caller_drops_is_freed_while_reading_goes_on(tmp_path, kind):
    """The scan keeps one file's block in memory at a time only if the reader holds none."""
    import weakref

    from setibl.observations.make import Grid, write_blocks

    grid = Grid(coarse_channels=4, fine_channels=64, time_steps=8)
    made = ((c, np.full((8, 64), c, np.float32)) for c in range(4))  # float32, as BL files
    path = write_blocks(tmp_path / f"scan.{kind}", grid, 0, made, kind)
    blocks = coarse_blocks(path, read_header(path), 4)
    block = next(blocks)[2]
    freed = weakref.ref(block)
    del block
    assert freed() is None  # the generator, suspended, holds no reference to it
    assert [int(b[0, 0]) for _, _, b in blocks] == [1, 2, 3]
