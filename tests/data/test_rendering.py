import numpy as np
import pytest
from scipy import stats

from setibl.config import SynthConfig
from setibl.data.rendering import (
    CadenceGeometry,
    chi2_quantile_table,
    intensity_from_snr,
    make_noise,
    noise_std,
    render_signal,
    to_float16,
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
