"""The same user without its ledger: the baseline of the overhead benchmark."""

from locust import task

from harness.load.user import LedgerUser


class Bare(LedgerUser):
    record = False

    @task
    def get(self) -> None:
        self.call("get", "GET", "/")
