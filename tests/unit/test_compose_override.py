"""The generated Compose override: links through Toxiproxy without touching the application's file."""

from __future__ import annotations

from typing import Any

import yaml

from harness.compose import override as ov
from harness.compose.cli import project_name
from harness.compose.project import declared_port

LABELS = {"aftershock.run_id": "r1", "aftershock.owner": "1:2", "aftershock.host": "h"}

PROJECT: dict[str, Any] = {
    "services": {
        "api": {"networks": {"default": None}, "ports": [{"target": 8000, "published": "8080"}]},
        "db": {"networks": {"default": None, "back": None}, "container_name": "pg", "expose": ["5432"]},
        "worker": {"networks": {"default": None}},
        "payments": {"networks": {"default": None}, "ports": [{"target": 8000, "published": "9000"}]},
    },
    "networks": {"default": {"name": "x_default"}, "back": {}, "outside": {"external": True}},
    "volumes": {"pgdata": {"name": "x_pgdata"}, "shared": {"external": True}},
}


def _plan(**kw: Any) -> ov.Plan:
    base: dict[str, Any] = {
        "links": (("api", "db"), ("worker", "db"), ("worker", "payments")),
        "published": {"api": (41000, 8000)},
        "labels": LABELS,
        "environment": {"api": {"ORDERS_FRAGILE": "1"}},
        "images": {"api": "aftershock-compose-orders-api"},
        "toxiproxy_image": "tp:1",
        "toxiproxy_api": (42000, 8474),
        "seed": 7,
    }
    return ov.Plan(**{**base, **kw})


def _doc() -> dict[str, Any]:
    return ov.build_override(PROJECT, _plan())


def test_server_leaves_every_network_for_its_own_upstream_network() -> None:
    db = _doc()["services"]["db"]
    assert isinstance(db["networks"], ov.Override)  # replaces, never merges with default/back
    assert dict(db["networks"]) == {"aftershock-up-db": {"aliases": ["aftershock-upstream-db"]}}


def test_toxiproxy_takes_the_server_name_on_each_link_network() -> None:
    tp = _doc()["services"][ov.TOXIPROXY_SERVICE]
    assert tp["networks"]["aftershock-link-api-db"] == {"aliases": ["db"]}
    assert tp["networks"]["aftershock-link-worker-db"] == {"aliases": ["db"]}
    assert tp["networks"]["aftershock-link-worker-payments"] == {"aliases": ["payments"]}
    assert "aftershock-up-db" in tp["networks"] and "aftershock-up-payments" in tp["networks"]
    assert tp["command"][-1] == "7" and tp["ports"] == ["127.0.0.1:42000:8474"]


def test_a_client_keeps_its_networks_and_joins_its_link_networks() -> None:
    services = _doc()["services"]
    assert dict(services["api"]["networks"]) == {"default": None, "aftershock-link-api-db": None}
    assert set(services["worker"]["networks"]) == {
        "default",
        "aftershock-link-worker-db",
        "aftershock-link-worker-payments",
    }


def test_ports_labels_names_restart_and_environment() -> None:
    services = _doc()["services"]
    assert list(services["api"]["ports"]) == ["127.0.0.1:41000:8000"]
    assert isinstance(services["payments"]["ports"], ov.Reset)  # fixed host port removed
    assert "ports" not in services["worker"]
    assert isinstance(services["db"]["container_name"], ov.Reset)
    assert all(s["restart"] == "no" for n, s in services.items() if n != ov.TOXIPROXY_SERVICE)
    assert services["api"]["labels"]["aftershock.run_id"] == "r1"
    assert services["api"]["environment"] == {"ORDERS_FRAGILE": "1"}
    assert services["api"]["image"] == "aftershock-compose-orders-api"


def test_networks_and_volumes_are_labelled_but_external_ones_left_alone() -> None:
    doc = _doc()
    assert set(doc["networks"]) == {
        "default",
        "back",
        "aftershock-link-api-db",
        "aftershock-link-worker-db",
        "aftershock-link-worker-payments",
        "aftershock-up-db",
        "aftershock-up-payments",
    }
    assert all(n["labels"] == LABELS for n in doc["networks"].values())
    assert doc["volumes"] == {"pgdata": {"labels": LABELS}}


def test_dump_writes_the_compose_replace_tags() -> None:
    text = ov.dump(_doc())
    assert "networks: !override" in text and "ports: !reset []" in text
    assert "container_name: !reset []" in text

    plain = yaml.safe_load(text.replace("!override", "").replace("!reset []", "[]"))
    assert plain["services"]["db"]["networks"] == {
        "aftershock-up-db": {"aliases": ["aftershock-upstream-db"]}
    }


def test_declared_port_and_project_name() -> None:
    assert declared_port({"expose": ["5432"]}) == 5432
    assert declared_port({"ports": [{"target": 8000}]}) == 8000
    assert declared_port({"expose": ["80", "443"]}) is None
    assert declared_port({}) is None
    assert project_name("20261129-124600-5ED1") == "aftershock-20261129-124600-5ed1"
