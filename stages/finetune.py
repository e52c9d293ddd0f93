"""finetune: fine-tune the encoder (params `encoder`) with a classification head on train
(reception.models.finetuning), for the family declared in params.yaml families.finetune.

finetune.device: auto fine-tunes on a GPU (bf16) when one is present and otherwise skips the family, which the
comparison then shows as unavailable with the reason (a CPU fit, calibration included, takes hours on 2
cores); cpu forces a CPU fit.
Writes models/finetune/<family>/ (a reception.models.finetuned folder, or only status.json when skipped) and
data/predictions/finetune/ (<family>.parquet when fitted; status.json either way).
"""
from __future__ import annotations

from reception.data.splits import read_split, read_train_val_folds
from reception.models import tracking
from reception.models.encoder import resolve_model_dir, verify_weights
from reception.models.families import declared
from reception.models.finetuning import chosen_device, finetune_family
from reception.outputs import fresh_dir, write_json
from reception.params import load_params
from reception.paths import family_dir, predictions_dir, predictions_file, stage_models_dir, status_file

STAGE = "finetune"


def main() -> None:
    families = [f.name for f in declared().values() if f.stage == STAGE]
    if not families:  # a profile may declare none (families.finetune: {})
        fresh_dir(predictions_dir(STAGE))
        fresh_dir(stage_models_dir(STAGE))
        write_json(status_file(STAGE), {})
        print("finetune: no family declared under families.finetune, nothing fine-tuned")
        return
    [family] = families
    params = {**load_params(STAGE), "encoder": load_params("encoder")}
    device = chosen_device(params["device"])
    fresh_dir(predictions_dir(STAGE))
    fresh_dir(stage_models_dir(STAGE))
    model_dir = family_dir(STAGE, family)
    model_dir.mkdir()
    if device is None:
        status = {family: {"status": "unavailable", "model": family, "reason": (
            "skipped: no GPU (set finetune.device: cpu to fine-tune on the CPU: 31 fine-tunes, about 1.5 hours on 2 "
             "cores)")}}
        write_json(status_file(STAGE), status)
        write_json(model_dir / "status.json", status[family])
        print(f"finetune {family}: {status[family]['reason']}")
        return
    verify_weights(resolve_model_dir(params["encoder"]["model"]), params["encoder"]["sha256"])
    splits = {s: read_split(s, ["comment_id", "clean_text", "well_received"]) for s in ("train", "val", "test")}
    mlflow = tracking.setup(params["base"]["mlflow_experiment"])
    predictions, run = finetune_family(family, params, device, splits, read_train_val_folds(), mlflow, model_dir)
    predictions.to_parquet(predictions_file(STAGE, family), index=False)
    write_json(status_file(STAGE), {family: {"status": "ok", "model": family, "device": device}})
    print(f"finetune {family}: best epoch {run['best_epoch']} on {device}; fit + val/test scoring "
          f"{run['fit_seconds']:.0f} s, thread CV {run['thread_cv_seconds']:.0f} s; MLflow run {run['mlflow_run_id']}")


if __name__ == "__main__":
    main()
