"""Detection quality of every detector, side by side, on the setigen-made evaluation set.

Usage: python benchmarks/quality.py [DATA] [--run RUN] [--records SHARDS] [--markdown FILE]
      [--work DIR]
       [--n-train 2000] [--n-test 1000] [--seed 2026] [--workers 2]

DATA (default data/xgen) is made by benchmarks/setigen_cadences.py when it holds no
test_labels.csv yet (the size and seed options apply then only); a folder that has one is
used as it is. Detectors, each scoring the test split:
- floor: mean of the OFF scans' medians minus mean of the ON scans' medians. Each scan was
  normalised on its own, so power added to ON scans only lowers their normalised background;
  the trivial statistic any detector should beat.
- dedoppler: ``setibl dedoppler DATA --split test --filter-level 0`` (score = best ON S/N minus
  the OFF S/N at the places its drift predicts, read from its events file where there is one:
  the [0, 1] prediction ranks the same but ties among strong cadences).
- cnn (with ``--run RUN``): ``setibl predict RUN DATA``; RUN is passed through as given
  (the word ``default`` scores the shipped default model).
- dedoppler_blanked: the same with ``--set dedoppler.blank_off_lit=true`` (RFI whose core is
  lit in every OFF scan blanked before the search, as the ``search_maps`` layout does).
- blend (with ``--run``): the mean of the CNN's and de-Doppler's normalised ranks, an
  unweighted rank average (no labels needed, so it cannot overfit the test split);
  blend_blanked: the same with dedoppler_blanked.
Figures per detector: AUC; recall at the score threshold that gives 1% false positives over
all negatives; that recall per needle S/N bin, path kind and n_on; and, at the same threshold,
the false-positive rate on rfi_only and on decoy cadences. Detectors run through the CLI, so
this script does not depend on the package's module layout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _common import emit
from scipy.stats import rankdata
from setigen_cadences import OFF, ON, SNR_BINS, VERSION, Recipe, make_set

from setibl.measure.evaluate import threshold_at_fpr

FPR = 0.01


def floor_statistic(cadence: np.ndarray) -> float:
    """Mean OFF-scan median minus mean ON-scan median of one (6, T, F) cadence (noise units)."""
    medians = np.median(cadence.reshape(cadence.shape[0], -1).astype(np.float32), axis=1)
    return float(medians[list(OFF)].mean() - medians[list(ON)].mean())


def auc(target: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties)."""
    target = np.asarray(target).astype(bool)
    ranks = rankdata(score)
    positives, negatives = int(target.sum()), int((~target).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    u = ranks[target].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def _rate(mask: np.ndarray) -> dict:
    return {"rate": round(float(mask.mean()), 4) if len(mask) else None, "n": int(len(mask))}


def score_detector(table: pd.DataFrame, fpr: float = FPR) -> dict:
    """Figures of one detector; ``table`` has target, score and (optionally) cadences.csv's
    category, snr, path_kind and n_on columns, one row per test cadence."""
    target = table["target"].to_numpy().astype(bool)
    score = table["score"].to_numpy(dtype=float)
    threshold = threshold_at_fpr(score[~target], fpr)
    detected = score > threshold
    figures = {
        "auc": round(auc(target, score), 4),
        "recall_at_1pct_fpr": _rate(detected[target])["rate"],
        "fpr": _rate(detected[~target])["rate"],
        "threshold": round(threshold, 6),
        "positives": int(target.sum()),
        "negatives": int((~target).sum()),
    }
    if "category" not in table:
        return figures
    positives = table[target].assign(detected=detected[target])
    snr = pd.to_numeric(positives["snr"])
    figures["recall_by_snr"] = {
        f"{low:g}-{high:g}": _rate(
            positives["detected"][(snr >= low) & ((snr < high) | (high == SNR_BINS[-1]))].to_numpy()
        )
        for low, high in zip(SNR_BINS[:-1], SNR_BINS[1:], strict=True)
    }
    for column in ("path_kind", "n_on"):
        figures[f"recall_by_{column}"] = {
            str(key): _rate(group["detected"].to_numpy())
            for key, group in positives.groupby(column, sort=True)
        }
    category = table["category"].to_numpy()
    for name in ("rfi_only", "decoy"):
        figures[f"fpr_{name}"] = _rate(detected[category == name])
    return figures


def setibl_cli() -> str:
    """The setibl command beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "setibl"
    return str(beside) if beside.exists() else (shutil.which("setibl") or "setibl")


def run_cli(*args: str) -> None:
    """Run one setibl command; a failure ends the benchmark with its exit status."""
    print("$ setibl " + " ".join(args), flush=True)
    status = subprocess.run([setibl_cli(), *args]).returncode
    if status:
        raise SystemExit(f"setibl {args[0]} failed (exit status {status}); see above")


def read_scores(path: Path, ids: pd.Series, column: str = "target") -> np.ndarray:
    """One score column of a CSV with an id column, in the order of ``ids``."""
    scores = pd.read_csv(path, dtype={"id": str}).set_index("id")[column]
    missing = set(ids) - set(scores.index)
    if missing:
        raise SystemExit(f"{path}: no score for {len(missing)} test ids, e.g. {min(missing)}")
    return scores.loc[ids].to_numpy(dtype=float)


def test_table(data: Path) -> pd.DataFrame:
    """One row per test cadence: id, target and, when present, cadences.csv's description."""
    table = pd.read_csv(data / "test_labels.csv", dtype={"id": str})
    if (data / "cadences.csv").exists():
        cadences = pd.read_csv(data / "cadences.csv", dtype={"id": str}, keep_default_na=False)
        table = table.merge(cadences.drop(columns=["target"]), on="id", how="left")
    return table.sort_values("id", ignore_index=True)


def floor_scores(data: Path, ids: pd.Series) -> np.ndarray:
    return np.array([floor_statistic(np.load(data / "test" / i[0] / f"{i}.npy")) for i in ids])


def dedoppler_scores(
    data: Path, work: Path, name: str, ids: pd.Series, workers: int, *settings: str
) -> np.ndarray:
    """``setibl dedoppler`` over the test split, with ``--set`` ``settings``, into WORK/NAME.csv.

    The raw score (ON S/N minus OFF S/N) ranks like the [0, 1] prediction at filter level 0,
    without the ties the squashing leaves among strong cadences."""
    events = work / f"{name}.events.csv"
    events.unlink(missing_ok=True)  # only this run's events file may be read
    overrides = [part for setting in settings for part in ("--set", setting)]
    run_cli("dedoppler", str(data), "--split", "test", "--out", str(work / f"{name}.csv"),
            "--filter-level", "0", "--workers", str(workers), *overrides)  # fmt: skip
    if events.exists():
        return read_scores(events, ids, "score")
    return read_scores(work / f"{name}.csv", ids)


def _cell(entry) -> str:
    if isinstance(entry, dict):
        return "—" if entry["rate"] is None else f"{entry['rate']:.3f} ({entry['n']})"
    return f"{entry:.3f}" if isinstance(entry, float) else str(entry)


def table_rows(results: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """(metric, one cell per detector) rows; nested figures are flattened as 'group key'."""
    first = next(iter(results.values()))
    rows = []
    for key in ("auc", "recall_at_1pct_fpr", "fpr", "fpr_rfi_only", "fpr_decoy"):
        if key in first:
            rows.append((key, [_cell(r.get(key, "")) for r in results.values()]))
    for group in ("recall_by_snr", "recall_by_path_kind", "recall_by_n_on"):
        for sub in first.get(group, {}):
            cells = [_cell(r[group].get(sub, {"rate": None, "n": 0})) for r in results.values()]
            rows.append((f"{group.removeprefix('recall_by_')} {sub}", cells))
    return rows


def render(results: dict[str, dict], markdown: bool) -> str:
    names, rows = list(results), table_rows(results)
    if markdown:
        lines = ["| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        return "\n".join(lines + [f"| {m} | " + " | ".join(c) + " |" for m, c in rows])
    width = max(len(m) for m, _ in rows)
    head = f"{'metric':<{width}}  " + "  ".join(f"{n:>14}" for n in names)
    body = [f"{m:<{width}}  " + "  ".join(f"{c:>14}" for c in cells) for m, cells in rows]
    return "\n".join([head, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="data/xgen")
    parser.add_argument("--run", help="a trained run (or 'default') for the CNN and the blend")
    parser.add_argument(
        "--records",
        help="shards of DATA's test split in the run's layout, scored in place of DATA "
        "(saves sharding it again; e.g. the shards of a run trained on DATA)",
    )
    parser.add_argument("--markdown", help="also write the table as markdown to this file")
    parser.add_argument("--work", default="runs/quality", help="folder for the score files")
    parser.add_argument("--n-train", type=int, default=Recipe.n_train)
    parser.add_argument("--n-test", type=int, default=Recipe.n_test)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data, work = Path(args.data), Path(args.work)
    if not (data / "test_labels.csv").exists():
        recipe = Recipe(seed=args.seed, n_train=args.n_train, n_test=args.n_test)
        make_set(data, recipe, workers=args.workers)
    elif (data / "recipe.json").exists():
        made = json.loads((data / "recipe.json").read_text()).get("version")
        if made != VERSION:
            print(f"warning: {data} was made by recipe version {made}, the maker is at "
                  f"{VERSION}; remake it with benchmarks/setigen_cadences.py")  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    table = test_table(data)
    if "category" in table:
        print(table["category"].value_counts().sort_index().to_string(), flush=True)
    scores = {"floor": floor_scores(data, table["id"])}
    scores["dedoppler"] = dedoppler_scores(data, work, "dedoppler", table["id"], args.workers)
    scores["dedoppler_blanked"] = dedoppler_scores(
        data, work, "dedoppler_blanked", table["id"], args.workers, "dedoppler.blank_off_lit=true"
    )
    if args.run:
        source = args.records or str(data)
        run_cli("predict", args.run, source, "--out", str(work / "cnn.csv"))
        scores["cnn"] = read_scores(work / "cnn.csv", table["id"])
        for blend, classical in (("blend", "dedoppler"), ("blend_blanked", "dedoppler_blanked")):
            ranks = [rankdata(scores[n]) / len(table) for n in ("cnn", classical)]
            scores[blend] = np.mean(ranks, axis=0)
    results = {name: score_detector(table.assign(score=s)) for name, s in scores.items()}
    print(render(results, markdown=False), flush=True)
    for name, figures in results.items():
        emit("quality", {"detector": name, "data": str(data), **figures})
    if args.markdown:
        head = f"Quality on {data} ({len(table)} test cadences; recall at {FPR:.0%} FPR)\n\n"
        Path(args.markdown).write_text(head + render(results, markdown=True) + "\n")
    (work / "quality.json").write_text(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
