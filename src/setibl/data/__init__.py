"""Data sets in the Kaggle layout: loading, validation, synthetic cadences, submissions. No TF."""
