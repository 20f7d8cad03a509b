"""Ablation of the learned recipe on the cross-generator benchmark: each element on or off.

Usage: python benchmarks/ablation.py [DATA] [--config configs/cpu.toml] [--out runs/ablation]
       [--shards DIR] [--folds 2] [--epochs 4] [--only NAME ...] [--markdown FILE]

Every variant is ``setibl train CONFIG DATA`` with the variant's ``--set`` overrides on top of
the config, at one reduced budget for all (``--folds``, ``--epochs``; a config with mixup has
it off for the last epoch: the figures compare elements, they are not the recipe's best),
scored on DATA's test
split with the benchmark's figures (``quality.score_detector``: AUC, recall at 1% FPR).
Variants of the config's layout reuse the first variant's shards (or ``--shards``, DATA's
shards in the config's layout made before); other layouts make their own. A variant whose run
folder already holds its figures is not trained again, so an interrupted ablation resumes.
Times are wall seconds of training (sharding apart) on this machine; compare them within one
run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from _common import emit
from quality import score_detector, setibl_cli

from setibl.io import atomic_write_text

# the config fine-tunes the shipped model's weights; variants that cannot start from them (other
# layouts and backbones) train from scratch at the from-scratch peak learning rate
SCRATCH = ('model.init="none"', "schedule.lr_max_per_sample=1.5625e-5")
PIXELS = ("schedule.lr_max_per_sample=3.125e-5",)  # the pixel CNNs' from-scratch peak
VARIANTS: dict[str, tuple[str, ...]] = {
    "recipe": (),
    "no scan-order shuffling": ("augment.scan_order=false",),
    "+ focal loss": ('model.loss="focal"',),
    "AdamW (weight decay 1e-4)": ('schedule.optimizer="adamw"', "schedule.weight_decay=1e-4"),
    "reference schedule kind (ramp-decay)": ('schedule.kind="ramp_decay"',),
    "from scratch": SCRATCH,
    "from scratch, layout drift6 + small_cnn_full": (
        *SCRATCH,
        *PIXELS,
        'records.layout="drift6"',
        'model.backbone="small_cnn_full"',
    ),
    "from scratch, layout all6 + small_cnn": (
        *SCRATCH,
        *PIXELS,
        'records.layout="all6"',
        'model.backbone="small_cnn"',
    ),
}


def _folder(args: argparse.Namespace, name: str) -> Path:
    keep = "".join(c if c.isalnum() or c in "+-" else "_" for c in name)
    return args.out / keep


def _makes_own_shards(overrides: tuple[str, ...]) -> bool:
    """Whether a variant changes how records are made, so cannot reuse the config's shards."""
    return any(item.startswith("records.") for item in overrides)


def run_variant(
    name: str, overrides: tuple[str, ...], args: argparse.Namespace, shards: Path | None
) -> dict:
    folder = _folder(args, name)
    figures_file = folder / "ablation.json"
    if figures_file.exists():
        return json.loads(figures_file.read_text())
    source = shards if (shards is not None and not _makes_own_shards(overrides)) else args.data
    command = [
        setibl_cli(), "train", str(args.config), str(source), "--out", str(folder),
        "--set", f"train.folds={args.folds}", "--set", f"train.epochs={args.epochs}",
        "--set", "train.verbose=0", "--set", "mixup.off_last_epochs=1",
    ]  # fmt: skip
    for item in overrides:
        command += ["--set", item]
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:  # one variant's failure is a row, not the end of the ablation
        lines = (finished.stderr or finished.stdout).strip().splitlines()
        return {"variant": name, "overrides": list(overrides), "failed": lines[-1] if lines else ""}
    metrics = json.loads((folder / "metrics.json").read_text())
    train_seconds = sum(fold.get("seconds", 0.0) for fold in metrics.get("folds", []))
    cadences = pd.read_csv(args.data / "cadences.csv", dtype={"id": str}, keep_default_na=False)
    test = cadences[cadences["split"] == "test"]
    submission = pd.read_csv(folder / "submission.csv", dtype={"id": str})
    table = test.merge(submission.rename(columns={"target": "score"}), on="id")
    if len(table) != len(test):
        sys.exit(f"{folder / 'submission.csv'}: {len(table)} of {len(test)} test ids scored")
    scored = score_detector(table)
    figures = {
        "variant": name,
        "overrides": list(overrides),
        "oof_auc": metrics.get("oof_auc"),
        "test_auc": scored["auc"],
        "recall_at_1pct_fpr": scored["recall_at_1pct_fpr"],
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(seconds, 1),
    }
    atomic_write_text(figures_file, json.dumps(figures, indent=1))
    return figures


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"Ablation on {args.data} ({args.folds} folds x {args.epochs} epochs each, "
        f"config {args.config}; test split)",
        "",
        "| variant | test AUC | recall at 1% FPR | OOF AUC | training s |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if "failed" in row:
            lines.append(f"| {row['variant']} | failed: {row['failed']} | | | |")
            continue
        oof = row["oof_auc"]
        lines.append(
            f"| {row['variant']} | {row['test_auc']:.3f} | {row['recall_at_1pct_fpr']:.3f} | "
            f"{'n/a' if oof is None else f'{oof:.3f}'} | {row['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="data/xgen", type=Path)
    parser.add_argument("--config", default="configs/cpu.toml", type=Path)
    parser.add_argument("--out", default="runs/ablation", type=Path)
    parser.add_argument("--shards", type=Path, help="DATA's shards in the config's layout")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--only", nargs="*", choices=sorted(VARIANTS), default=None)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    if not (args.data / "cadences.csv").exists():
        sys.exit(f"{args.data}: no cadences.csv (make it with benchmarks/quality.py first)")
    names = args.only or list(VARIANTS)
    shards, rows = args.shards, []
    for name in names:
        row = run_variant(name, VARIANTS[name], args, shards)
        rows.append(row)
        emit("ablation", row)
        if shards is None and not _makes_own_shards(VARIANTS[name]):
            made = _folder(args, name) / "shards"
            shards = made if made.is_dir() else None
    table = markdown(rows, args)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
