"""The optimization engine: rated feedback -> DSPy -> a better prompt version -> pull request.

Modules, one job each:

- :mod:`.settings` server-wide defaults (LM endpoint, price table, time limit, GitHub).
- :mod:`.plan` how a run is shaped (train/val split, optimizer, trials), shared by the
  cost estimate and the pipeline so both always agree.
- :mod:`.pricing` / :mod:`.cost` the pre-run cost estimate and budget warning.
- :mod:`.pipeline` the DSPy run itself (pure inputs -> outcome), built from
  :mod:`.signature`, :mod:`.dataset`, :mod:`.metric`, :mod:`.optimizers`, :mod:`.render`,
  :mod:`.lm` and :mod:`.usage`.
"""

import os

# litellm and DSPy would otherwise fetch a model price map from the internet when first used.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
