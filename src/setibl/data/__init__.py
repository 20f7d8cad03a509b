"""Data sets in the Kaggle layout: loading and validation, synthetic cadences, submissions. No TensorFlow."""
