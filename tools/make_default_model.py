"""Remake the shipped default model (``setibl predict default``) from our own synth.

Usage: python tools/make_default_model.py [--work WORK] [--workers 2] [--quality QUALITY_JSON]

Steps, each through the setibl command line (so the log shows the exact commands):
1. ``setibl synth WORK/data --config src/setibl/configs/default_model.toml`` — the [synth]
   mixture and size of that config, seed run.seed (same seed, same bytes);
2. ``setibl train src/setibl/configs/default_model.toml WORK/data --out WORK/run`` (resumes
   with ``--resume`` when WORK/run holds an unfinished run);
3. export: the run's resolved config, metrics and fold weights go to
   ``src/setibl/default_model/``, with ``model.json`` naming the training mixture, seed,
   commands (with WORK for the work folder), wall time and size (benchmark figures of earlier
   weights are dropped). WORK's data and run are reused as they are: use a fresh WORK after
   changing the config.

``--quality FILE`` (the ``quality.json`` that ``benchmarks/quality.py --run default`` wrote)
only adds its figures to the bundled ``model.json``; nothing is retrained.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "src" / "setibl" / "configs" / "default_model.toml"
BUNDLE = REPO / "src" / "setibl" / "default_model"
RUN_FILES = ("config.toml", "metrics.json")
WEIGHTS = "best.weights.h5"


def setibl_cli() -> str:
    """The setibl command beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "setibl"
    return str(beside) if beside.exists() else (shutil.which("setibl") or "setibl")


def run_cli(*args: str) -> str:
    """Run one setibl command; a failure ends the script with its exit status."""
    command = "setibl " + " ".join(args)
    print(f"$ {command}", flush=True)
    status = subprocess.run([setibl_cli(), *args]).returncode
    if status:
        raise SystemExit(f"{command} failed (exit status {status}); see above")
    return command


def make_data(work: Path, workers: int) -> str:
    data = work / "data"
    if (data / "test_labels.csv").is_file():
        print(f"{data}: already synthesized", flush=True)
        return f"setibl synth WORK/data --config {CONFIG.relative_to(REPO)}"
    run_cli("synth", str(data), "--config", str(CONFIG), "--workers", str(workers))
    return f"setibl synth WORK/data --config {CONFIG.relative_to(REPO)} --workers {workers}"


def train(work: Path) -> str:
    run = work / "run"
    if (run / "metrics.json").is_file():
        print(f"{run}: already trained", flush=True)
    elif (run / "run.json").is_file():
        run_cli("train", "--resume", str(run))
    else:
        run_cli("train", str(CONFIG), str(work / "data"), "--out", str(run))
    return f"setibl train {CONFIG.relative_to(REPO)} WORK/data --out WORK/run"


def export(run: Path, description: dict) -> Path:
    """Copy the run's config, metrics and fold weights into the package; write model.json."""
    from setibl.config import load_config
    from setibl.learned.records import layout_params

    config = load_config(run / "config.toml")
    staging = BUNDLE.with_name(BUNDLE.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(run / name, staging / name)
    for fold in range(config.train.folds):
        (staging / f"fold-{fold}").mkdir()
        shutil.copy2(run / f"fold-{fold}" / WEIGHTS, staging / f"fold-{fold}" / WEIGHTS)
    metrics = json.loads((run / "metrics.json").read_text())
    size = sum(p.stat().st_size for p in staging.rglob(WEIGHTS))
    model = {
        **description,
        "seed": config.run.seed,
        "synth": dataclasses.asdict(config.synth),
        "layout": config.records.layout,
        "layout_params": layout_params(config.records.layout),
        "backbone": config.model.backbone,
        "folds": config.train.folds,
        "epochs": config.train.epochs,
        "oof_auc_on_synth": metrics.get("oof_auc"),
        "weights_bytes": size,
    }
    # new weights have not been benchmarked: no figures of the old ones carry over
    write_description(staging, model)
    retired = BUNDLE.with_name(BUNDLE.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if BUNDLE.exists():
        BUNDLE.rename(retired)
    staging.rename(BUNDLE)  # the bundle is missing only between two renames
    shutil.rmtree(retired, ignore_errors=True)
    return BUNDLE


def write_description(folder: Path, model: dict) -> None:
    """model.json (every figure) and README.md (the same for people) in the bundle."""
    (folder / "model.json").write_text(json.dumps(model, indent=1, sort_keys=True) + "\n")
    synth = model["synth"]
    lines = [
        "# The shipped default model",
        "",
        "`setibl predict default DATA --out sub.csv`, `setibl scan ... --model default`,",
        '`model.init = "default"`. A run folder: config.toml, metrics.json, one',
        f"`fold-k/{WEIGHTS}` per fold ({model['folds']} folds, averaged);",
        f"{model['weights_bytes']:,} bytes of weights.",
        "",
        f"Trained on our own synth only (never on setigen or Kaggle data): {synth['n_train']:,}",
        f"cadences, {synth['needle_fraction']:.0%} with a needle of S/N {synth['snr_min']:g} to",
        f"{synth['snr_max']:g} (paths {', '.join(synth['needle_kinds'])}), RFI in",
        f"{synth['rfi_fraction']:.0%} of cadences (kinds {', '.join(synth['rfi_kinds'])}); seed",
        f"{model['seed']}. Layout {model['layout']}, backbone {model['backbone']},",
        f"{model['epochs']} epochs; OOF AUC on that synth {model['oof_auc_on_synth']:.3f}.",
        "",
        f"Made by `{model['made_by']}` in {model['wall_s'] / 60:.0f} minutes:",
        "",
        *[f"    {command}" for command in model["commands"]],
    ]
    benchmark = model.get("benchmark")
    if benchmark:
        lines += ["", "Cross-generator benchmark (setigen-made, test split):", ""]
        lines += [f"    {benchmark['command']}", ""]
        lines += ["| detector | AUC | recall at 1% FPR |", "| --- | --- | --- |"]
        for name, figures in benchmark.items():
            if isinstance(figures, dict):
                auc, recall = figures["auc"], figures["recall_at_1pct_fpr"]
                lines.append(f"| {name} | {auc:.3f} | {recall:.3f} |")
    (folder / "README.md").write_text("\n".join(lines) + "\n")


def record_quality(quality: Path, command: str) -> None:
    """Add the CNN's and the blend's benchmark figures to the bundled model.json."""
    results = json.loads(quality.read_text())
    model_file = BUNDLE / "model.json"
    model = json.loads(model_file.read_text())
    keys = ("auc", "recall_at_1pct_fpr", "fpr_rfi_only", "fpr_decoy")
    model["benchmark"] = {
        "command": command,
        **{name: {k: results[name].get(k) for k in keys} for name in results},
    }
    write_description(BUNDLE, model)
    print(f"benchmark figures -> {model_file}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/default_model", help="data and run folder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quality", help="quality.json of benchmarks/quality.py --run default")
    parser.add_argument(
        "--quality-command",
        default="python benchmarks/quality.py data/xgen --run default",
        help="the command that wrote --quality (recorded beside its figures)",
    )
    args = parser.parse_args()
    if args.quality:
        record_quality(Path(args.quality), args.quality_command)
        return
    work = Path(args.work)
    start = time.monotonic()
    commands = [make_data(work, args.workers), train(work)]
    description = {
        "made_by": "python tools/make_default_model.py",
        "commands": commands,
        "wall_s": round(time.monotonic() - start),
    }
    print(f"exported -> {export(work / 'run', description)}")


if __name__ == "__main__":
    main()
