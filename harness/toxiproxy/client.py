"""A small Toxiproxy REST client.

Why not toxiproxy-python: it has no timeouts, keeps host/port in global state and fails with a
KeyError on a 5xx. This client is ~100 lines: every call has a timeout, updates use PATCH, and
Toxiproxy's error JSON becomes a :class:`ToxiproxyError` that quotes it.
"""

from __future__ import annotations

from typing import Any

import requests

from harness.errors import InfrastructureError


class ToxiproxyError(InfrastructureError):
    """Toxiproxy answered with an error, or did not answer in time."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ToxiproxyClient:
    """Toxiproxy's REST API, with a timeout on every call."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _call(self, method: str, path: str, body: Any = None, expect_json: bool = True) -> Any:
        try:
            resp = self._http.request(method, self.url + path, json=body, timeout=(2.0, self.timeout))
        except requests.RequestException as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.url} did not answer {method} {path}: {exc}") from None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("error", resp.text)
            except ValueError:
                detail = resp.text
            raise ToxiproxyError(
                f"Toxiproxy refused {method} {path}: {detail} (HTTP {resp.status_code})", resp.status_code
            )
        if not expect_json or resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def version(self) -> str:
        data = self._call("GET", "/version")
        return str(data.get("version") if isinstance(data, dict) else data)

    def proxies(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/proxies")
        return result

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        result: dict[str, Any] = self._call("POST", "/proxies", body)
        return result

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = self._call("POST", "/populate", proxies)
        return list(result.get("proxies", [])) if isinstance(result, dict) else list(result)

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/proxies/{name}", fields)
        return result

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}", expect_json=False)

    def add_toxic(
        self, proxy: str, name: str, type: str, stream: str, toxicity: float, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"name": name, "type": type, "stream": stream, "toxicity": toxicity, "attributes": attributes}
        result: dict[str, Any] = self._call("POST", f"/proxies/{proxy}/toxics", body)
        return result

    def update_toxic(self, proxy: str, name: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/proxies/{proxy}/toxics/{name}", fields)
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}", expect_json=False)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", expect_json=False)

    def close(self) -> None:
        self._http.close()
