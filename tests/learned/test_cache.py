from setibl.learned.devices import available_memory
from setibl.learned.train import cache_in_memory

GB = 10**9


def test_cache_only_what_fits_in_half_the_free_memory():
    fits, reason = cache_in_memory(True, 2 * GB, 16 * GB)
    assert fits and "caching 2.00 GB" in reason
    fits, reason = cache_in_memory(True, 20 * GB, 16 * GB)  # on3, full Kaggle set, one fold
    assert not fits and "20.00 GB" in reason and "16.00 GB" in reason and "from disk" in reason
    fits, reason = cache_in_memory(False, 1, 16 * GB)
    assert not fits and "train.cache off" in reason
    assert cache_in_memory(True, 2 * GB, None)[0]  # unknown: as asked


def test_free_memory_is_measured():
    free = available_memory()
    assert free is None or free > 0
