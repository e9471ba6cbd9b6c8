"""Load for the orders target: mostly creates (with idempotency keys), some reads of own orders.

Each create records its amount as the ledger ``value``: the audit must show that amount, once.
"""

from locust import task

from harness.load.user import LedgerUser


class OrdersUser(LedgerUser):
    def on_start(self) -> None:
        self.created: list[str] = []

    @task(3)
    def create_order(self) -> None:
        amount = self.random.randint(100, 999_999)
        body = {
            "item": self.random.choice(["book", "lamp", "mug", "desk"]),
            "qty": self.random.randint(1, 5),
            "amount_cents": amount,
        }
        resp = self.call("create_order", "POST", "/orders", key=self.new_key(), json=body, value=str(amount))
        if resp is not None and resp.status_code in (200, 201):
            self.created.append(resp.json()["id"])
            del self.created[:-50]

    @task(1)
    def read_order(self) -> None:
        if self.created:
            self.call("read_order", "GET", f"/orders/{self.random.choice(self.created)}")
