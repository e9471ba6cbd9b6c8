from locust import task

from harness.load.user import LedgerUser


class Shopper(LedgerUser):
    @task
    def order(self) -> None:
        key = self.new_key()
        self.call("create_order", "POST", "/orders", key=key, json={"item": "book"}, value="book")
