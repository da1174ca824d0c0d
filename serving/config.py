"""What the forecast service reads from the environment beyond the shared settings."""

from __future__ import annotations

from novacron.serving.schemas import MIN_HISTORY

from novacron.settings import Settings


class ServingSettings(Settings):
    #: the registered model whose ``@champion`` the service serves (NOVACRON_REGISTERED_MODEL)
    registered_model: str = "novacron-forecaster"
    #: seconds between checks for a moved ``@champion`` (0: load once at start)
    champion_poll_s: float = 30.0
    #: fewest history points a series may have (the stream agents send at least MIN_HISTORY)
    min_history: int = MIN_HISTORY
    #: calls of up to this many series run on the event loop (~0.1 ms a series); bigger
    #: ones in a worker thread, so they never hold the loop for long
    inline_max_series: int = 200
