"""Filterbank observation files: headers, coarse-channel reading, cadences. No TensorFlow."""
