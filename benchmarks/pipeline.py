"""Shard writing and input-pipeline throughput, setibl against the reference approach.

Usage: python benchmarks/pipeline.py [N]   (default N = 2000 synthetic cadences)
Targets: pipeline >= 3x the reference approach and >= 10x EfficientNet-B0's training
consumption on this CPU, full augmentation, batch 32. Measured here with plain Keras on random
tensors at 273 x 256 x 3: training 3.2 img/s, inference 13.0 img/s (the "about 12 img/s" once
quoted for training is the inference rate); the ratio uses the training rate.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, peak_rss_mib, timed
from reference_pipeline import reference_train_dataset

from setibl.config import load_config
from setibl.jobs.data import shard_data, synthesize
from setibl.learned.pipeline import PipelineSpec, train_dataset
from setibl.learned.records import shard_paths

MODEL_CONSUMPTION = 3.2  # img/s, EfficientNet-B0 training at 273 x 256 on this CPU


def images_per_second(dataset, batches: int, batch: int) -> float:
    iterator = iter(dataset)
    for _ in range(5):  # fill the cache, warm the kernels
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - start)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    config = load_config(None, [])
    synthesize(config, root / "data", count, 0, seed=1, progress=False)
    figures: dict = {"cadences": count}
    manifests = {}
    for encoding in ("float16", "png8"):
        encoded = load_config(None, [f'records.encoding="{encoding}"'])
        manifest, seconds = timed(
            shard_data, encoded, root / "data", root / encoding, progress=False
        )
        manifests[encoding] = manifest
        figures[f"shard_{encoding}_per_s"] = round(count / seconds, 1)
    batch, batches = 32, 40
    ours = train_dataset(
        shard_paths(root / "float16", manifests["float16"], "train"),
        PipelineSpec((273, 256, 3)),
        batch,
        config.augment,
    )
    figures["setibl_img_per_s"] = round(images_per_second(ours, batches, batch), 1)
    reference = reference_train_dataset(
        shard_paths(root / "png8", manifests["png8"], "train"), (273, 256, 3), batch, config.augment
    )
    figures["reference_img_per_s"] = round(images_per_second(reference, batches, batch), 1)
    figures["speedup_vs_reference"] = round(
        figures["setibl_img_per_s"] / figures["reference_img_per_s"], 2
    )
    figures["times_model_consumption"] = round(figures["setibl_img_per_s"] / MODEL_CONSUMPTION, 1)
    figures["peak_rss_mib"] = peak_rss_mib()
    shutil.rmtree(root)
    emit("pipeline", figures)


if __name__ == "__main__":
    main()
