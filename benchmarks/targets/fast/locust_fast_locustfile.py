"""Locust's own FastHttpUser, no ledger: the yardstick the recording user is measured against."""

from locust import FastHttpUser, constant_throughput, task

from benchmarks.targets.fast.ready import RATE_PER_USER


class LocustFast(FastHttpUser):
    wait_time = constant_throughput(RATE_PER_USER)

    @task
    def get(self) -> None:
        self.client.get("/", name="get")
