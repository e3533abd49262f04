"""Every overlay renders (kubectl kustomize, offline) to manifests valid for Kubernetes 1.33.

Core kinds are validated strictly (unknown fields refused) against 1.33's OpenAPI schemas by
kubernetes-validate. Its schemas hold no CRDs, so the PodMonitor and the prometheus-adapter
rules are checked here field by field. Then what ties the pieces together: probes on the port
the settings open, the drain fitting the termination grace, selectors matching the pods.
"""

from __future__ import annotations

import copy
import shlex
import subprocess
from dataclasses import fields
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml
from saliency_service.bulk import cli as bulk_cli
from saliency_service.config import ServerConfig
from saliency_service.metrics import Metrics

from tests.deploy.tools import DEPLOY, tool

KUBERNETES_VERSION = "1.33"
OVERLAYS = ("cpu", "gpu")
CRDS = {("monitoring.coreos.com/v1", "PodMonitor")}
Doc = dict[str, Any]


@cache
def render(overlay: str) -> tuple[Doc, ...]:
    done = subprocess.run(
        [tool("kubectl"), "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(yaml.safe_load_all(done.stdout))


def one(overlay: str, kind: str) -> Doc:
    (doc,) = [d for d in render(overlay) if d["kind"] == kind]
    return doc


def settings(overlay: str) -> dict[str, str]:
    return dict(one(overlay, "ConfigMap")["data"])


def server(overlay: str) -> Doc:
    (container,) = one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_manifests_are_valid_for_the_stated_kubernetes_version(overlay: str) -> None:
    kinds = set()
    for doc in render(overlay):
        if (doc["apiVersion"], doc["kind"]) in CRDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        kinds.add(doc["kind"])
    assert kinds == {
        "Namespace", "ServiceAccount", "ConfigMap", "Service", "PersistentVolumeClaim",
        "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
    }


def test_strict_validation_refuses_a_misspelt_field() -> None:
    deployment = copy.deepcopy(one("cpu", "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readynessProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_demo_models_job_is_valid() -> None:
    job = yaml.safe_load((DEPLOY / "jobs" / "load-demo-models.yaml").read_text())
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    claim = job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]
    assert claim["claimName"] == one("cpu", "PersistentVolumeClaim")["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_monitor_scrapes_the_metrics_port_of_the_pods(overlay: str) -> None:
    monitor = one(overlay, "PodMonitor")
    assert monitor["metadata"]["namespace"] == "saliency"
    labels = one(overlay, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    ports = {p["name"]: p["containerPort"] for p in server(overlay)["ports"]}
    assert ports[endpoint["port"]] == int(settings(overlay)["SALIENCY_METRICS_PORT"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_is_a_server_setting(overlay: str) -> None:
    names = {"SALIENCY_" + f.name.upper() for f in fields(ServerConfig)}
    assert set(settings(overlay)) <= names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_are_native_grpc_health_checks_on_the_plain_text_probe_port(overlay: str) -> None:
    container = server(overlay)
    probe_port = int(settings(overlay)["SALIENCY_PROBE_PORT"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == probe_port
    assert container["readinessProbe"]["grpc"]["service"] == "saliency.v1.Saliency"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_drain_fits_in_the_termination_grace_period(overlay: str) -> None:
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    container = server(overlay)
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(settings(overlay)["SALIENCY_GRACE_PERIOD_S"])
    grace = pod["terminationGracePeriodSeconds"]
    assert pre_stop + drain + 5 <= grace
    # Liveness cannot fail (and restart the pod) within a drain.
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > grace


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_is_locked_down(overlay: str) -> None:
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    context = server(overlay)["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m for m in server(overlay)["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True
    assert settings(overlay)["SALIENCY_REPOSITORY"] == "/models"
    for secret in ("/etc/saliency/tls", "/etc/saliency/auth"):
        assert mounts[secret]["readOnly"] is True
    assert settings(overlay)["SALIENCY_TLS_CLIENT_CA"].startswith("/etc/saliency/tls/")
    assert settings(overlay)["SALIENCY_AUTH_TOKENS_FILE"].startswith("/etc/saliency/auth/")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_budget_and_policy_select_the_pods(overlay: str) -> None:
    labels = one(overlay, "Deployment")["spec"]["template"]["metadata"]["labels"]
    service = one(overlay, "Service")["spec"]
    assert service["clusterIP"] == "None"  # headless: clients balance over every pod
    assert service["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["ports"]] == ["grpc"]
    budget = one(overlay, "PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    policy = one(overlay, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    allowed = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
    assert allowed == {"grpc", "metrics"}
    assert policy["egress"] == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_autoscaler_scales_the_deployment_on_a_metric_the_adapter_serves(
    overlay: str,
) -> None:
    hpa = one(overlay, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == one(overlay, "Deployment")["metadata"]["name"]
    assert "replicas" not in one(overlay, "Deployment")["spec"]
    (metric,) = hpa["metrics"]
    assert metric["type"] == "Pods"
    rules = yaml.safe_load((DEPLOY / "prometheus-adapter" / "values.yaml").read_text())
    served = {rule["name"]["as"]: rule for rule in rules["rules"]["custom"]}
    rule = served[metric["pods"]["metric"]["name"]]
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    assert "<<.LabelMatchers>>" in rule["metricsQuery"]
    assert "<<.GroupBy>>" in rule["metricsQuery"]
    # The series the rule reads are ones the server exports.
    histograms = {f.name for f in Metrics().registry.collect() if f.type == "histogram"}
    assert "saliency_queue_wait_seconds" in histograms
    assert rule["seriesQuery"].startswith("saliency_queue_wait_seconds_count{")


def test_the_gpu_overlay_asks_for_a_gpu_node_and_the_cuda_image() -> None:
    pod = one("gpu", "Deployment")["spec"]["template"]["spec"]
    resources = server("gpu")["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert "-cuda" in server("gpu")["image"]


def test_the_cpu_overlay_asks_for_no_gpu_and_the_cpu_image() -> None:
    pod = one("cpu", "Deployment")["spec"]["template"]["spec"]
    resources = server("cpu")["resources"]
    assert "nvidia.com/gpu" not in {**resources["requests"], **resources["limits"]}
    assert "nodeSelector" not in pod
    assert server("cpu")["image"].endswith("-cpu")


def test_the_training_overlay_is_a_valid_job_on_the_models_claim() -> None:
    done = subprocess.run(
        [tool("kubectl"), "kustomize", str(DEPLOY / "overlays" / "training")],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(done.stdout))
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert sorted(d["kind"] for d in docs) == ["Job", "PersistentVolumeClaim"]
    (job,) = [d for d in docs if d["kind"] == "Job"]
    pod = job["spec"]["template"]["spec"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v}
    assert one("cpu", "PersistentVolumeClaim")["metadata"]["name"] in claims
    (container,) = pod["containers"]
    assert container["image"].startswith("registry.example.com/saliency-service:")
    assert "saliency-train" in container["command"][-1]


def test_the_bulk_rayjob_runs_a_valid_bulk_command_in_valid_pods() -> None:
    """deploy/bulk/rayjob.yaml (KubeRay's CRD, which the schemas do not know): its entrypoint
    parses as `saliency-bulk`, its pod templates are valid pods, run as the image's user, and
    mount the models' claim."""
    job = yaml.safe_load((DEPLOY / "bulk" / "rayjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    command, *arguments = shlex.split(job["spec"]["entrypoint"])
    assert command == "saliency-bulk"
    parsed = bulk_cli._parser().parse_args(arguments)
    assert parsed.kind == "explain" and str(parsed.repository) == "/models"
    cluster = job["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"],
                 *(group["template"] for group in cluster["workerGroupSpecs"])]
    models = one("cpu", "PersistentVolumeClaim")["metadata"]["name"]
    for template in templates:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ray"},
               "spec": template["spec"]}
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
        assert template["spec"]["securityContext"]["runAsUser"] == 10001
        claims = [v["persistentVolumeClaim"]["claimName"] for v in template["spec"]["volumes"]
                  if "persistentVolumeClaim" in v]
        assert models in claims
