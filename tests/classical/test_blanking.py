import numpy as np
import pytest

from setibl.classical.blanking import OffLitBlanking, blank_mask, blank_off_lit_channels
from setibl.classical.dedoppler import search_cadences
from setibl.config import ON_SCANS
from tests.conftest import add_track, noise_cadence


def test_blanking_clears_channels_lit_in_every_off_scan_and_keeps_the_rest():
    cadence = noise_cadence(4)
    cadence[:, :, 100] += 3.0  # still RFI in all six scans
    cadence[[1, 3], :, 30] += 3.0  # lit in two OFF scans only: evidence, kept
    cadence[[0, 2, 4], :, 200] += 3.0  # lit in the ON scans only: a needle, kept
    blanked = blank_off_lit_channels(cadence[None], ON_SCANS)[0]
    changed = np.flatnonzero((blanked != cadence).any(axis=(0, 1)))
    np.testing.assert_array_equal(changed, np.arange(98, 103))  # the line and 2 each side
    filled = blanked[:, :, 98:103]  # noise like the rest of the scan, around its level
    assert abs(filled.mean()) < 0.05 and filled.std() == pytest.approx(1.0, abs=0.05)
    assert cadence[1, 0, 100] != blanked[1, 0, 100]  # the input is left alone
    first = noise_cadence(9)
    first[:, :, 50] += 3.0  # blanked too, before it in the batch
    again = blank_off_lit_channels(np.stack([first, cadence]), ON_SCANS)[1]
    np.testing.assert_array_equal(again, blanked)  # whatever batch it is in


def test_blanking_writes_nothing_back_into_a_memory_mapped_batch(tmp_path):
    cadence = noise_cadence(13)
    cadence[:, :, 100] += 3.0  # still RFI in all six scans
    np.save(tmp_path / "c.npy", cadence[None])
    for mode in ("r", "r+"):
        mapped = np.load(tmp_path / "c.npy", mmap_mode=mode)
        blanked = blank_off_lit_channels(mapped, ON_SCANS)
        assert not np.array_equal(blanked[0, :, :, 100], cadence[:, :, 100])
        np.testing.assert_array_equal(np.load(tmp_path / "c.npy")[0], cadence)
    plain = noise_cadence(14)[None]  # nothing to blank: the batch itself comes back
    assert blank_off_lit_channels(plain, ON_SCANS) is plain


def test_blanks_take_each_scans_noise_and_level():
    sigmas = np.array([0.5, 2.0, 1.0, 1.0, 3.0, 1.0], np.float32)
    cadence = noise_cadence(12) * sigmas[:, None, None] + 10.0
    cadence[:, :, 100] += 3.0 * sigmas[:, None]  # still RFI in all six scans
    filled = blank_off_lit_channels(cadence[None], ON_SCANS)[0][:, :, 98:103]
    np.testing.assert_allclose(filled.std(axis=(1, 2)), sigmas, rtol=0.08)
    np.testing.assert_allclose(filled.mean(axis=(1, 2)), 10.0, atol=0.1)


def test_blanking_takes_wandering_rfi_whole_when_its_core_is_lit_in_every_off_scan():
    cadence = noise_cadence(7)
    for scan in range(6):  # 5 channels wide, one channel on per scan: only 105 in every OFF
        cadence[scan, :, 100 + scan : 105 + scan] += 3.0
    for scan in range(6):  # the same, three channels on per scan: no channel in every OFF
        cadence[scan, :, 150 + 3 * scan : 155 + 3 * scan] += 3.0
    blanked = blank_off_lit_channels(cadence[None], ON_SCANS)[0]
    changed = np.flatnonzero((blanked != cadence).any(axis=(0, 1)))
    # ON scan 0 (100-104) goes too: a remnant beside the blank would look ON-only
    np.testing.assert_array_equal(changed, np.arange(98, 112))


def test_blanking_lights_nothing_on_noise_or_on_scans_without_noise():
    cadences = np.stack([noise_cadence(5), np.zeros((6, 273, 256), np.float32)])
    cadences[1, :, :, 40] = 1.0  # a line on noiseless scans: no scale to measure it by
    np.testing.assert_array_equal(blank_off_lit_channels(cadences, ON_SCANS), cadences)


def _search_off_max(cadence: np.ndarray, blank: bool) -> tuple[np.ndarray, float]:
    """(the ON scans' S/N maps, the largest OFF-scan S/N) of one cadence's search."""
    cadences = cadence[None]
    if blank:
        cadences = blank_off_lit_channels(cadences, ON_SCANS)
    snr = search_cadences(cadences, clip_sigma=6.0)[0].snr
    return snr[list(ON_SCANS)], float(snr[[1, 3, 5]].max())


def test_blanking_on_a_sloping_bandpass_leaves_no_line_behind():
    slope = np.linspace(0.0, 5.0, 256, dtype=np.float32)  # 5 noise sigmas across the band
    cadence = noise_cadence(10) + slope
    # still RFI of S/N 150 low on the slope: a fill at the scan's median level would be a line
    # of 2 sigmas per pixel, S/N ~ 40
    cadence[:, :, 15] += 150.0 / np.sqrt(273)
    assert _search_off_max(cadence, blank=False)[1] > 100
    assert _search_off_max(cadence, blank=True)[1] < 7
    filled = blank_off_lit_channels(cadence[None], ON_SCANS)[0][:, :, 13:18]
    noise = filled - filled.mean(axis=1, keepdims=True)  # the slope is no noise
    np.testing.assert_allclose(noise.std(axis=(1, 2)), 1.0, atol=0.08)


def test_a_wide_blank_keeps_the_noise_scale_of_the_scan():
    alone = noise_cadence(11)
    add_track(alone, [0, 2, 4], 20, 0.1, 25.0)  # a needle in the ON scans
    comb = alone.copy()
    comb[:, :, 90:250:4] += 100.0 / np.sqrt(273)  # 40 still lines, 4 channels apart
    on_alone, _ = _search_off_max(alone, blank=False)
    on_comb, off_comb = _search_off_max(comb, blank=True)
    filled = blank_off_lit_channels(comb[None], ON_SCANS)[0][:, :, 100:240]
    assert filled.std() == pytest.approx(1.0, abs=0.05)  # measured where nothing is lit
    assert on_comb[:, :60].max() == pytest.approx(on_alone[:, :60].max(), abs=2.5)
    assert off_comb < 7


def _lit(on_extra: dict[int, slice], width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(core, lit) of a line at channels 9-11 in every scan, core at 10, plus ON-lit runs."""
    core, lit = np.zeros(width, bool), np.zeros((6, width), bool)
    core[10] = True
    lit[:, 9:12] = True
    for scan, channels in on_extra.items():
        lit[scan, channels] = True
    return core, lit


def test_a_structure_lit_mostly_in_on_scans_loses_only_what_touches_the_off_rfi():
    # scan 0 lit 9-18 over the line, scan 2 lit 15-25 beside it: one structure, 17 channels lit
    # in ON scans against 3 in OFF scans
    core, lit = _lit({0: slice(9, 19), 2: slice(15, 26)})
    mixed = blank_mask(core, lit, ON_SCANS, mixed_ratio=3.0)
    expected = np.zeros_like(lit)
    expected[:, 9:12] = True  # the RFI, in every scan
    expected[0, 9:19] = True  # scan 0's run touches it: gone
    np.testing.assert_array_equal(mixed, expected)  # scan 2's run, clear of it, stays
    whole = blank_mask(core, lit, ON_SCANS, mixed_ratio=6.0)  # 17 <= 6 x 3: whole, every scan
    expected[:, 9:26] = True
    np.testing.assert_array_equal(whole, expected)


def test_a_needle_laid_across_still_rfi_keeps_the_on_scans_where_it_is_clear_of_it():
    cadence = noise_cadence(15)
    cadence[:, :, 100] += 3.0  # still RFI in all six scans
    for scan, start in ((0, 92), (2, 110), (4, 128)):  # one drifting needle, 16 channels a scan
        add_track(cadence, scan, start, 0.06, 80.0)
    blanked = blank_off_lit_channels(cadence[None], ON_SCANS)[0]
    changed = [np.flatnonzero((blanked[s] != cadence[s]).any(axis=0)) for s in range(6)]
    assert changed[0][0] <= 92 and changed[0][-1] >= 108  # its run over the RFI goes
    for scan in range(1, 6):  # elsewhere the RFI goes and the needle beside it stays
        np.testing.assert_array_equal(changed[scan], np.arange(98, 103))
    whole = OffLitBlanking(mixed_ratio=100.0)  # taken whole, the needle would go everywhere
    taken = blank_off_lit_channels(cadence[None], ON_SCANS, whole)[0]
    assert (taken != cadence)[[2, 4], :, 110:144].any(axis=1).all()
    kept = search_cadences(blanked[None], clip_sigma=6.0)[0].snr[[2, 4]].max(axis=1)
    gone = search_cadences(taken[None], clip_sigma=6.0)[0].snr[[2, 4]].max(axis=1)
    assert (kept > 40).all() and (gone < 8).all()  # the search sees the needle in scans 2, 4


def test_at_exactly_the_ratio_the_structure_goes_whole():
    core, lit = _lit({0: slice(9, 15)})  # 6 ON channels where OFF scans light 3: 2 x
    np.testing.assert_array_equal(blank_mask(core, lit, ON_SCANS, 2.0).sum(axis=1), [6] * 6)
    mixed = blank_mask(core, lit, ON_SCANS, 1.9)
    np.testing.assert_array_equal(mixed.sum(axis=1), [6, 3, 3, 3, 3, 3])


def test_an_on_run_beside_the_off_rfi_goes_with_it_and_dark_on_scans_lose_that_rfi():
    core, lit = np.zeros(64, bool), np.zeros((6, 64), bool)
    core[10] = True
    lit[[1, 3, 5], 9:12] = True  # RFI lit in the OFF scans only
    lit[0, 12:40] = True  # a needle from beside it: the structure is lit mostly in ON scans
    lit[2, 12:15] = True  # starts where the OFF scans' run ends: RFI shifted by a run's width
    mixed = blank_mask(core, lit, ON_SCANS, 3.0)
    np.testing.assert_array_equal(np.flatnonzero(mixed[2]), np.arange(9, 15))
    np.testing.assert_array_equal(np.flatnonzero(mixed[0]), np.arange(9, 40))
    np.testing.assert_array_equal(np.flatnonzero(mixed[4]), np.arange(9, 12))  # dark there


@pytest.mark.parametrize("on_scans", [(1, 3, 5), (1, 3)])
def test_the_mixed_rule_follows_the_cadences_on_scans(on_scans):
    scans = 6 if len(on_scans) == 3 else 4
    off = [s for s in range(scans) if s not in on_scans]
    core, lit = np.zeros(64, bool), np.zeros((scans, 64), bool)
    core[10] = True
    lit[:, 9:12] = True
    lit[on_scans[0], 9:19] = True  # an ON scan's run across the RFI
    lit[on_scans[1], 15:26] = True  # one beside it
    mixed = blank_mask(core, lit, on_scans, 3.0)
    np.testing.assert_array_equal(np.flatnonzero(mixed[on_scans[0]]), np.arange(9, 19))
    for scan in [on_scans[1], *off]:
        np.testing.assert_array_equal(np.flatnonzero(mixed[scan]), np.arange(9, 12))


def test_a_band_lit_almost_everywhere_takes_its_noise_from_the_quietest_channels():
    cadence = noise_cadence(30)
    cadence[:, :, 0:256:4] += 100.0 / np.sqrt(273)  # still lines 4 apart: 11 channels unlit
    blanked = blank_off_lit_channels(cadence[None], ON_SCANS)[0]
    filled = (blanked != cadence).any(axis=(0, 1))
    assert filled.sum() > 240
    level = blanked[:, :, filled].mean(axis=1, keepdims=True)
    np.testing.assert_allclose((blanked[:, :, filled] - level).std(axis=(1, 2)), 1.0, atol=0.12)


@pytest.mark.parametrize(
    "settings",
    [
        {"extent_sigma": 6.0},  # an extent above the core blanked the band
        {"extent_sigma": 0.0},
        {"grow": -1},
        {"grow": 2.5},
        {"detrend": 0},
        {"detrend": 65.0},
        {"mixed_ratio": 0.0},
    ],
)
def test_blanking_settings_are_checked(settings):
    with pytest.raises(ValueError, match=f"^{next(iter(settings))} must be"):
        OffLitBlanking(**settings)


def test_rfi_drifting_within_each_scan_does_not_widen_the_fill():
    cadence = noise_cadence(31)
    for channel in range(40, 248, 16):  # 13 lines drifting 4 channels per scan, S/N 100
        add_track(cadence, [0, 1, 2, 3, 4, 5], channel, 0.015, 100.0)
    blanked = blank_off_lit_channels(cadence[None], ON_SCANS)[0]
    filled = (blanked != cadence).any(axis=(0, 1))
    assert filled.sum() >= 13 * 6
    noise = blanked[:, :, filled] - blanked[:, :, filled].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(noise.std(axis=(1, 2)), 1.0, atol=0.06)
