"""Training and inference throughput of EfficientNet-B0 at 273 x 256, batch 32, on this CPU:
setibl's input (float16 records, XLA-fused batch augmentation) against the reference approach
(PNG records, per-image gather transform) feeding the same model in the same process.

Usage: python benchmarks/train.py [STEPS] [BACKBONE]   (default 12 steps, efficientnet_b0)
Target: >= 1.3x the reference's end-to-end epoch throughput. Prints peak memory.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, peak_rss_mib
from reference_pipeline import reference_train_dataset

from setibl.config import load_config
from setibl.jobs.data import shard_data, synthesize
from setibl.learned.models import build_model, compile_model
from setibl.learned.pipeline import PipelineSpec, predict_dataset, train_dataset
from setibl.learned.records import shard_paths


def fit_rate(model, dataset, steps: int, batch: int) -> float:
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # build, trace, fill caches
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def tta_rate(model, files, spec, batch: int, augment, passes: int) -> float:
    count = 0
    start = time.perf_counter()
    for tta_pass in range(passes):
        for element in predict_dataset(files, spec, batch, augment, tta_pass=tta_pass):
            model.predict_on_batch(element["image"])
            count += int(element["image"].shape[0])
    return count / (time.perf_counter() - start)


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    backbone = sys.argv[2] if len(sys.argv) > 2 else "efficientnet_b0"
    batch = 32
    root = Path(tempfile.mkdtemp(prefix="bench-train-"))
    config = load_config(None, [f'model.backbone="{backbone}"', 'model.weights="none"'])
    synthesize(config, root / "data", 320, 64, seed=5, progress=False)
    manifests = {}
    for encoding in ("float16", "png8"):
        encoded = load_config(
            None,
            [f'records.encoding="{encoding}"', "records.train_shards=4", "records.test_shards=2"],
        )
        manifests[encoding] = shard_data(encoded, root / "data", root / encoding, progress=False)
    spec = PipelineSpec((273, 256, 3))
    figures: dict = {"backbone": backbone, "batch": batch, "steps": steps}
    model = build_model(config.model, spec.image_shape)
    compile_model(model, config.model, 1e-4)
    ours = train_dataset(
        shard_paths(root / "float16", manifests["float16"], "train"), spec, batch, config.augment
    )
    reference = reference_train_dataset(
        shard_paths(root / "png8", manifests["png8"], "train"),
        spec.image_shape,
        batch,
        config.augment,
    )
    figures["train_setibl_img_per_s"] = round(fit_rate(model, ours, steps, batch), 2)
    figures["train_reference_img_per_s"] = round(fit_rate(model, reference, steps, batch), 2)
    figures["train_speedup"] = round(
        figures["train_setibl_img_per_s"] / figures["train_reference_img_per_s"], 2
    )
    test_files = shard_paths(root / "float16", manifests["float16"], "test")
    figures["infer_tta_setibl_img_per_s"] = round(
        tta_rate(model, test_files, spec, batch, config.augment, passes=2), 2
    )
    figures["peak_rss_mib"] = peak_rss_mib()
    shutil.rmtree(root)
    emit("train", figures)


if __name__ == "__main__":
    main()
