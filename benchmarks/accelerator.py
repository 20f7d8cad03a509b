"""Throughput on an accelerator: one measurement case per process (the precision policy is
global to a process), results as one BENCH line each. Driven by benchmarks/accelerator.sh.

Usage:
  python benchmarks/accelerator.py prepare DIR [--train N] [--test N]
  python benchmarks/accelerator.py case DIR BACKBONE PRECISION XLA INPUT [--steps N] [--batch N]
    PRECISION: float32 | bfloat16      XLA: on | off      INPUT: setibl | reference

``prepare`` synthesizes a small set (273 x 256 cadences) and shards it twice: float16 records
(setibl's input) and png8 records (the reference notebook's). ``case`` builds the backbone
without ImageNet weights (nothing is downloaded), then times ``model.fit`` on the chosen input
(the reference augmentation chain, or setibl's fused one; layout on3, batch 32 per step by
default) after a warm-up that compiles and fills the caches, then plain inference over the test
shards with a compiled ``model(images)`` call. Figures: images per second, train and infer.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import emit, peak_rss_mib


def prepare(root: Path, n_train: int, n_test: int) -> None:
    from setibl.config import load_config
    from setibl.jobs.data import shard_data, synthesize

    config = load_config(None, [])
    if not (root / "data" / "train_labels.csv").is_file():
        synthesize(config, root / "data", n_train, n_test, seed=5, progress=False)
    for encoding in ("float16", "png8"):
        if (root / encoding / "manifest.json").is_file():
            continue
        encoded = load_config(
            None,
            [f'records.encoding="{encoding}"', "records.train_shards=4", "records.test_shards=2"],
        )
        shard_data(encoded, root / "data", root / encoding, progress=False)
    print(f"prepared {root}", flush=True)


def case(root: Path, backbone: str, precision: str, xla: str, source: str, steps: int, batch: int):
    import keras
    import tensorflow as tf
    from reference_pipeline import reference_train_dataset

    from setibl.config import load_config
    from setibl.learned.models import build_model, compile_model
    from setibl.learned.pipeline import PipelineSpec, predict_dataset, train_dataset
    from setibl.learned.records import load_manifest, shard_paths

    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if precision == "bfloat16" else "float32"
    )
    config = load_config(None, [f'model.backbone="{backbone}"', 'model.weights="none"'])
    encoding = "float16" if source == "setibl" else "png8"
    manifest = load_manifest(root / encoding)
    spec = PipelineSpec(tuple(manifest["image_shape"]), manifest["encoding"])
    train_files = shard_paths(root / encoding, manifest, "train")
    if source == "setibl":
        dataset = train_dataset(train_files, spec, batch, config.augment)
    else:
        dataset = reference_train_dataset(train_files, spec.image_shape, batch, config.augment)
    jit = xla == "on"
    started = time.perf_counter()
    model = build_model(config.model, spec.image_shape)
    compile_model(model, config.model, 1e-4, jit_compile=jit)
    model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)  # trace, compile, fill caches
    warmup_s = time.perf_counter() - started
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    train_rate = steps * batch / (time.perf_counter() - start)
    infer = tf.function(lambda x: model(x, training=False), jit_compile=jit, reduce_retracing=True)
    ours = load_manifest(root / "float16")  # inference reads setibl's records in every case
    test_files = shard_paths(root / "float16", ours, "test")
    test_spec = PipelineSpec(tuple(ours["image_shape"]), ours["encoding"])
    plain = [e["image"] for e in predict_dataset(test_files, test_spec, batch)]
    full = [images for images in plain if images.shape[0] == batch] or plain
    infer(full[0]).numpy()  # compile
    count, start = 0, time.perf_counter()
    for _ in range(3):
        for images in full:
            infer(images).numpy()
            count += int(images.shape[0])
    infer_rate = count / (time.perf_counter() - start)
    emit(
        "accelerator",
        {
            "backbone": backbone,
            "precision": precision,
            "xla": xla,
            "input": source,
            "batch": batch,
            "steps": steps,
            "devices": [d.device_type for d in tf.config.list_physical_devices()],
            "train_img_per_s": round(train_rate, 1),
            "infer_img_per_s": round(infer_rate, 1),
            "warmup_s": round(warmup_s, 1),
            "peak_rss_mib": peak_rss_mib(),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("root", type=Path)
    p.add_argument("--train", type=int, default=512)
    p.add_argument("--test", type=int, default=128)
    c = sub.add_parser("case")
    c.add_argument("root", type=Path)
    c.add_argument("backbone")
    c.add_argument("precision", choices=["float32", "bfloat16"])
    c.add_argument("xla", choices=["on", "off"])
    c.add_argument("input", choices=["setibl", "reference"])
    c.add_argument("--steps", type=int, default=20)
    c.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.root, args.train, args.test)
    else:
        case(args.root, args.backbone, args.precision, args.xla, args.input, args.steps, args.batch)


if __name__ == "__main__":
    main()
