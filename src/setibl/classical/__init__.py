"""The classical detector: Taylor-tree de-Doppler search and find_event rules. No TensorFlow."""
