import numpy as np
import pytest
from scipy import stats

from setibl.config import SynthConfig
from setibl.data.rendering import (
    CadenceGeometry,
    chi2_quantile_table,
    f_profile,
    intensity_from_snr,
    make_noise,
    noise_std,
    normalise_scans,
    render_signal,
    scan_path_channels,
    to_float16,
    visible_scans,
)

GEOMETRY = CadenceGeometry()


def test_noise_matches_chi_squared_moments():
    config = SynthConfig(noise_dof=16, bandpass_ripple=0.0, bandpass_jitter=0.0)
    noise = make_noise(np.random.default_rng(0), GEOMETRY, config).ravel()
    assert abs(noise.mean() - 1.0) < 2e-3
    assert abs(noise.var() - 2 / 16) / (2 / 16) < 0.02
    table = chi2_quantile_table(16, 4096)
    assert abs(stats.skew(table) - stats.chi2(16).stats(moments="s")) < 0.05


def test_fast_float16_within_one_ulp():
    values = np.random.default_rng(0).standard_normal(100_000).astype(np.float32) * 5
    ours = to_float16(values).astype(np.float32)
    numpy = values.astype(np.float16).astype(np.float32)
    ulp = np.spacing(np.abs(numpy).astype(np.float16)).astype(np.float32)
    assert np.all(np.abs(ours - numpy) <= ulp)


def test_snr_definition_and_injection_match_setigen():
    setigen = pytest.importorskip("setigen")
    from astropy import units as u

    height, width = 64, 128
    geometry = CadenceGeometry(scans=1, height=height, width=width)
    config = SynthConfig()
    frame = setigen.Frame(
        fchans=width,
        tchans=height,
        df=config.df_hz * u.Hz,
        dt=config.dt_s * u.s,
        fch1=config.fch1_mhz * u.MHz,
        ascending=True,
    )
    frame.add_noise(x_mean=1.0, x_std=noise_std(config), noise_type="normal")
    frame.noise_std = noise_std(config)  # the definition, not this draw's estimate
    snr = 25.0
    assert frame.get_intensity(snr=snr) == pytest.approx(
        intensity_from_snr(snr, noise_std(config), height), rel=1e-12
    )
    f_start_ch, drift_ch, width_hz = 40.3, 0.37, 9.0
    frame.data[:] = 0
    setigen_signal = frame.add_signal(
        setigen.constant_path(
            f_start=frame.get_frequency(f_start_ch),
            drift_rate=drift_ch * config.df_hz / config.dt_s * u.Hz / u.s,
        ),
        setigen.constant_t_profile(level=frame.get_intensity(snr=snr)),
        setigen.gaussian_f_profile(width=width_hz * u.Hz),
        setigen.constant_bp_profile(level=1),
    )
    ours = render_signal(
        {
            "kind": "constant",
            "role": "needle",
            "snr": snr,
            "profile": "gaussian",
            "width_ch": width_hz / config.df_hz,
            "f_start_channel": f_start_ch,
            "drift_ch_per_step": drift_ch,
            "enabled_scans": [0],
        },
        geometry,
        config,
        height,
    )[0]
    peak = setigen_signal.max()
    assert np.abs(ours - setigen_signal).max() <= 1e-5 * peak


@pytest.mark.parametrize("kind", ["gaussian", "sinc2", "box"])
def test_profiles_peak_at_one_and_are_half_as_high_at_half_the_width(kind):
    width = 6.0
    offsets = np.linspace(-20, 20, 40001)
    profile = f_profile(offsets, kind, width)
    assert profile.max() == pytest.approx(1.0)
    above = offsets[profile >= 0.5]
    assert above.max() - above.min() == pytest.approx(width, abs=3e-3)
    with pytest.raises(ValueError, match="triangle"):
        f_profile(offsets, "triangle", width)


def test_a_line_leaving_the_band_is_visible_only_where_its_centre_is_inside():
    signal = {
        "kind": "constant",
        "f_start_channel": 240.0,
        "drift_ch_per_step": 0.05,  # 14 channels per scan: scan 1 crosses the band's edge
        "enabled_scans": [0, 1, 2, 4],
    }
    assert visible_scans(signal, GEOMETRY) == [0, 1]  # scan 1 starts inside, at 254
    centre = scan_path_channels(signal, GEOMETRY.times()[0], 0)
    np.testing.assert_allclose(centre, 240.0 + 0.05 * GEOMETRY.times()[0])
    hopping = {**signal, "drift_ch_per_step": 0.0, "scan_shifts_ch": [0, 0, -100, 0, 100, 0]}
    assert visible_scans(hopping, GEOMETRY) == [0, 1, 2]  # scan 4 hops out of the band
    assert scan_path_channels(hopping, GEOMETRY.times()[2], 2)[0] == pytest.approx(140.0)


def test_each_scan_is_normalised_on_its_own():
    rng = np.random.default_rng(1)
    scales = np.array([0.5, 2.0, 10.0], np.float32)
    data = rng.standard_normal((3, 50, 40)).astype(np.float32) * scales[:, None, None] + 7.0
    normalised = normalise_scans(data.copy(), dtype=np.float16)
    assert normalised.dtype == np.float16
    flat = normalised.astype(np.float64).reshape(3, -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-3)
    np.testing.assert_allclose(flat.std(axis=1), 1.0, atol=1e-3)
