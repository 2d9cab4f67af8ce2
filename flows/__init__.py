"""Prefect flows that orchestrate the ``restoration`` library (thin: every step is a library call).

Flows: ``flows.restore_reel.restore_reel`` (one reel, one task per chunk, resumable), ``flows.inbox.restore_inbox``
(scheduled: every new reel in a folder, once), ``flows.reprocess_flagged.reprocess_flagged`` (frames sent back),
``flows.finetune.finetune`` (adapt the models to a collection). ``flows.cli`` is the ``restoration``
command. Big arrays never pass through Prefect: tasks get a store path and a frame range.
"""

import os

# Offline defaults (see DESIGN, "Known pitfalls"); a value the user set wins. Set before Prefect is
# imported anywhere below, since Prefect reads some settings at import.
for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # The latent backend reads local Stable Diffusion folders only; the Hugging Face libraries read
    # this once, at import, and then never reach for the hub.
    "HF_HUB_OFFLINE": "1",
}.items():
    os.environ.setdefault(_name, _value)
