"""Steady GETs of /work."""

from locust import task

from harness.load.user import LedgerUser


class WorkUser(LedgerUser):
    @task
    def work(self) -> None:
        self.call("work", "GET", "/work")
