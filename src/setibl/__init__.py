"""setibl: learned and classical detectors for narrow-band, drifting, ON-only signals."""

__version__ = "0.1.0"
