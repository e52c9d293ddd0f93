"""What this service serves and its limits, read once when it is imported.

The served models are exactly the ones the bento declares: models/bento.json (reception.serving.bento_manifest),
shipped inside the bento, names their tags. Without it (a checkout before `dvc repro bento`) the service still
imports, declares no model, and fails at start-up saying what to run. RECEPTION_MODEL_URI (e.g.
models:/reddit-reception@champion, with MLFLOW_TRACKING_URI) serves one registered model instead, alone.
Paths are relative to the folder that holds service/: the checkout, or the bento's copy of it.
"""
from __future__ import annotations

import os
from pathlib import Path

from reception.models.families import declared
from reception.params import load_params
from reception.paths import BENTO_FILE, PARAMS_FILE
from reception.serving import bento_manifest

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = load_params("service", ROOT / PARAMS_FILE)
ZERO_SHOT_LOADING = load_params("baselines", ROOT / PARAMS_FILE)  # max_length, batch_size
DECLARED = declared(ROOT / PARAMS_FILE)
ZERO_SHOT = {name: family.settings for name, family in DECLARED.items() if family.zero_shot}
MODEL_URI = os.environ.get("RECEPTION_MODEL_URI")
MANIFEST_FILE = ROOT / BENTO_FILE
MANIFEST = None if MODEL_URI else bento_manifest.read(MANIFEST_FILE)
SERVED = MANIFEST.served if MANIFEST else {}  # key -> {tag, family, kind, thread_cv_roc_auc, champion}
UNAVAILABLE = MANIFEST.unavailable if MANIFEST else {}  # declared trained families not trained here: key -> why
# The keys a request may name, for the OpenAPI document (a registry model's family is known only once it
# is loaded: the document then lists no enum; the handlers check the key either way).
MODEL_KEYS = [*SERVED, *UNAVAILABLE, *ZERO_SHOT] if MANIFEST else None
# The keys whose family reads the comment's timing, the only ones "when to post" can answer for (the
# handler asks the loaded model itself; this list is what the OpenAPI document states).
TIMING_KEYS = [key for key in [*SERVED, *UNAVAILABLE] if key in DECLARED and DECLARED[key].uses_metadata] \
    if MANIFEST else None
if SETTINGS["max_queued_texts"] < SETTINGS["max_batch"]:
    raise ValueError(f"service.max_queued_texts ({SETTINGS['max_queued_texts']}) is less than service.max_batch "
                     f"({SETTINGS['max_batch']}): a full-size batch could never be queued")
if SETTINGS["max_concurrency"] < 1:
    raise ValueError("service.max_concurrency must be at least 1")
