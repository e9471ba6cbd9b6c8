"""Guards that watch a trial while it plays and may stop it.

* :mod:`harness.guards.watchdog` - the harness's own parts (Toxiproxy, Locust) are alive; a death
  is a harness failure (exit 3), never a verdict about the target.
* :mod:`harness.guards.abort` - the scenario's ``abort:`` bounds; crossing one ends the rehearsal
  early (exit 4, ABORTED).
* :mod:`harness.guards.probe` - the user's stop checks (HTTP, command), asked in the background.
* :mod:`harness.guards.trial` - both, as one context manager around a trial's play phase.
"""
