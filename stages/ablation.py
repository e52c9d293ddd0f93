"""ablation: which feature groups help on unseen threads, for every trained family that reads metadata.

For the family's hpo configuration: the thread-CV ROC-AUC (fold mean, the deciding metric) and the
within-thread ROC-AUC with its inputs, without the text embedding, without each kept group and with each
candidate group; `supported` says, per group, whether this run agrees with the code's choice, and
`unsupported_kept` / `supported_candidates` list the disagreements (reception.models.ablation).
Writes metrics/ablation.json; evaluate adds it to metrics/comparison.md.
"""
from __future__ import annotations

import json

from reception.data.features import ALL_FEATURES
from reception.data.splits import FIT_COLUMNS, read_train_val_folds, train_val_embeddings
from reception.models.ablation import ablation_run
from reception.models.families import declared, feature_matrix
from reception.outputs import write_json
from reception.params import load_params
from reception.paths import ABLATION_METRICS, best_params_file


def main() -> None:
    seed = load_params("ablation")["base"]["seed"]
    every_row, embeddings = read_train_val_folds(FIT_COLUMNS), train_val_embeddings()
    report = {}
    for name, family in declared().items():
        if family.kind != "trained" or not family.uses_metadata:
            continue
        rows = family.fit_rows(every_row["post_id"].to_numpy(), seed)
        frame = every_row.iloc[rows]
        y, folds, threads = frame["well_received"].to_numpy(), frame["fold"].to_numpy(), frame["post_id"].to_numpy()
        config = json.loads(best_params_file(name).read_text())
        read = family.embedding_of(embeddings.rows(rows))
        X = feature_matrix(True, read, frame, ALL_FEATURES)
        report[name] = ablation_run(name, config, seed, X, read.shape[1], y, folds, threads)
        if len(rows) < len(every_row):  # a family declared with max_rows: its ablation ran on those rows
            report[name]["rows"] = family.rows_report(rows, len(every_row), seed)
    write_json(ABLATION_METRICS, report)


if __name__ == "__main__":
    main()
