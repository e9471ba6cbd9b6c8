"""The harness's load: every request recorded in the ledger."""

from locust import task

from harness.load.user import LedgerUser


class Recorded(LedgerUser):
    @task
    def get(self) -> None:
        self.call("get", "GET", "/")
