"""GETs of /work, each under a fresh idempotency key, by users at different rates.

The ground truth for ledger completeness: the app counts every keyed request it receives
(``GET /audit``), and that count must equal the ledger, key for key. Users cycle through
``RATES`` (requests per second per user, scaled by the scenario's ``rate_per_user`` / 10), so
one run has users at 1 req/s beside faster ones.
"""

from typing import Any

from locust import constant_throughput, task

from harness.load.user import RATE_PER_USER, LedgerUser

RATES = (1.0, 3.0, 10.0)  # at the default rate_per_user of 10


class KeyedUser(LedgerUser):
    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        rate = RATES[(self.user_no - 1) % len(RATES)] * RATE_PER_USER / 10.0
        self._pace = constant_throughput(rate)

    def wait_time(self) -> float:
        return float(self._pace(self))

    @task
    def work(self) -> None:
        self.call("work", "GET", "/work", key=self.new_key())
