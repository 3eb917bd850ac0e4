"""What can be checked of `deploy/` without a Docker engine or a Kubernetes cluster: the image
holds every module the package names; every CASEWORK_ variable the files set is a setting
and takes the value they give; probes, ports and grace periods agree with the code; and the
dashboard and Prometheus ask only for metrics that the gateway and the worker serve."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    found = {}
    for name in kustomization["resources"]:
        for doc in documents(K8S / name):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_the_image_copies_every_module_and_package_the_project_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    copied = " ".join(line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if line.startswith("COPY"))
    for module in project["py-modules"]:
        assert re.search(rf"\b{module}\.py\b", copied), f"deploy/Dockerfile does not copy {module}.py"
    for package in {p.split(".")[0] for p in project["packages"]}:
        assert f"{package}/" in copied, f"deploy/Dockerfile does not copy {package}/"


def _casework_env() -> dict[str, str]:
    """Every CASEWORK_ variable the compose file and the manifests set, with its value."""
    env: dict[str, str] = {}
    compose = documents(DEPLOY / "docker-compose.yml")[0]
    for service in [compose["x-casework"], compose["services"]["worker"], compose["services"]["gateway"]]:
        for name, value in (service.get("environment") or {}).items():
            if name.startswith("CASEWORK_") and name != "<<":
                env[name] = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))  # compose's default
    for (kind, _), obj in k8s_objects().items():
        if kind == "ConfigMap":
            env.update(obj["data"])
        if kind == "Deployment":
            env.update({e["name"]: e["value"] for e in container(obj).get("env", [])})
    return env


def test_every_variable_the_deploy_files_set_is_a_setting_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _casework_env()
    assert len(env) >= 10
    fields = {f"CASEWORK_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, f"not settings: {sorted(set(env) - fields)}"
    for name, value in env.items():
        if name != "CASEWORK_DATABASE_URL":  # a compose interpolation with a password in it
            monkeypatch.setenv(name, value)
    Settings()  # raises on any value a process would refuse at start


def test_the_manifests_probe_what_the_gateway_and_the_worker_serve() -> None:
    objects = k8s_objects()
    gateway = container(objects[("Deployment", "casework-gateway")])
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health"
    assert gateway["ports"][0]["containerPort"] == int(gateway["command"][gateway["command"].index("--port") + 1])
    assert {"configMapRef": {"name": "casework-config"}} in gateway["envFrom"]

    worker_deployment = objects[("Deployment", "casework-worker")]
    worker = container(worker_deployment)
    env = {e["name"]: e["value"] for e in worker["env"]}
    metrics_port = int(env["CASEWORK_WORKER_METRICS_ADDRESS"].rsplit(":", 1)[1])
    assert worker["ports"][0]["containerPort"] == metrics_port == int(worker_deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
    # the pod's grace outlasts the worker's own, so its activities may finish (test_worker_shutdown.py)
    assert worker_deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > float(env["CASEWORK_WORKER_SHUTDOWN_GRACE_SECONDS"])
    # users and definitions come from the cluster's own Secret and ConfigMap, mounted where
    # the settings look, never from the image's examples with their demo passwords
    config = objects[("ConfigMap", "casework-config")]["data"]
    for deployment, needs in ((objects[("Deployment", "casework-gateway")], ("CASEWORK_DIRECTORY", "CASEWORK_DEFINITIONS")),
                              (worker_deployment, ("CASEWORK_DIRECTORY",))):
        mounts = [m["mountPath"] for m in container(deployment)["volumeMounts"]]
        for name in needs:
            assert "examples" not in config[name] and any(config[name].startswith(m) for m in mounts), (name, mounts)
        assert deployment["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 10001  # Secrets readable
    compose_worker = documents(DEPLOY / "docker-compose.yml")[0]["services"]["worker"]
    assert int(compose_worker["stop_grace_period"].rstrip("s")) > Settings().worker_shutdown_grace_seconds


def test_prometheus_scrapes_the_ports_the_compose_file_serves() -> None:
    compose = documents(DEPLOY / "docker-compose.yml")[0]["services"]
    scrape = {job["job_name"]: job for job in documents(DEPLOY / "prometheus.yml")[0]["scrape_configs"]}
    gateway_port = int(compose["gateway"]["command"][compose["gateway"]["command"].index("--port") + 1])
    worker_port = int(compose["worker"]["environment"]["CASEWORK_WORKER_METRICS_ADDRESS"].rsplit(":", 1)[1])
    assert scrape["casework-gateway"]["dns_sd_configs"][0] == {"names": ["gateway"], "type": "A", "port": gateway_port}
    assert scrape["casework-worker"]["dns_sd_configs"][0] == {"names": ["worker"], "type": "A", "port": worker_port}


def _served_casework_metrics() -> set[str]:
    """The casework_ series names the code exports (prometheus_client's, with their suffixes,
    and the worker's through the SDK's meter)."""
    from prometheus_client import REGISTRY

    import api.metrics  # noqa: F401 - registers the gateway's
    from store.projection import LAG_METRIC

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    names = {m.name + end for m in REGISTRY.collect() if m.name.startswith("casework_") for end in suffixes.get(m.type, [""])}
    from worker import OPEN_CASES_METRIC

    names |= {f"{LAG_METRIC}_bucket", f"{LAG_METRIC}_count", f"{LAG_METRIC}_sum", OPEN_CASES_METRIC}
    return names


def test_the_dashboard_asks_only_for_metrics_that_are_served() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "casework.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = {name for e in exprs for name in re.findall(r"\bcasework_\w+", e)}
    served = _served_casework_metrics()
    assert asked and asked <= served, f"not served: {sorted(asked - served)}"
    # the worker's: the SDK's names as its Prometheus endpoint spells them (counters without _total)
    assert all(not re.search(r"\btemporal_\w+_total\b", e) for e in exprs)
    datasource = documents(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")[0]["datasources"][0]
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {datasource["uid"]}
