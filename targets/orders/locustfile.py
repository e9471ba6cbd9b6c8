"""Load for the orders target: mostly creates (with idempotency keys), some reads of own orders."""

from locust import task

from harness.load.user import LedgerUser


class OrdersUser(LedgerUser):
    def on_start(self) -> None:
        self.created: list[str] = []

    @task(3)
    def create_order(self) -> None:
        body = {
            "item": self.random.choice(["book", "lamp", "mug", "desk"]),
            "qty": self.random.randint(1, 5),
            "amount_cents": self.random.randint(100, 99_999),
        }
        resp = self.call("create_order", "POST", "/orders", key=self.new_key(), json=body)
        if resp is not None and resp.status_code in (200, 201):
            self.created.append(resp.json()["id"])
            del self.created[:-50]

    @task(1)
    def read_order(self) -> None:
        if self.created:
            self.call("read_order", "GET", f"/orders/{self.random.choice(self.created)}")
