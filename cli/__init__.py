"""The ``tribeops`` command: the composition root that may use api, workers and core."""
