"""Measuring detectors: metrics, blends, pictures and the run report."""
