"""Locust's own HttpUser (requests), no ledger: the second yardstick."""

from locust import HttpUser, constant_throughput, task

from benchmarks.targets.fast.ready import RATE_PER_USER


class LocustHttp(HttpUser):
    wait_time = constant_throughput(RATE_PER_USER)

    @task
    def get(self) -> None:
        self.client.get("/", name="get")
