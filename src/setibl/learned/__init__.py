"""The learned detector: layouts, records, augmentation, pipeline, models, training, prediction."""
