"""Build the container image and smoke-test it for real, with docker.

    .venv/bin/python scripts/smoke_image.py --local-base     # here: a Debian base, built
    .venv/bin/python scripts/smoke_image.py --base-image ubuntu:24.04

Checks, each printed as it passes (any failure exits 1): the image's entrypoint, ports and user
are the ones below (tests/deploy/test_image.py holds the Dockerfile to the same); it runs as
that non-root user with a read-only root file system (`--read-only`, a tmpfs at /tmp, every
capability dropped); health answers SERVING; an Explain through the published port returns a
map; on SIGTERM health turns NOT_SERVING, the call in flight still completes, and the container
exits 0. Prints the image's size, the build time and the cold start (container start to
SERVING, and to the first map).

`--local-base` makes the base where no registry can be reached: `debootstrap` (Debian's
package) installs a minimal Debian into a folder, and `docker import` turns it into an image.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# What the image must run and expose; tests/deploy/test_image.py checks the Dockerfile agrees.
ENTRYPOINT = ["saliency-server"]
PORTS = (50051, 9090)
USER = "10001:10001"
LOCAL_BASE = "saliency-base:bookworm"
DEBIAN = ("bookworm", "http://deb.debian.org/debian")
CONTAINER = "saliency-smoke"
INDEX_HOSTS = ("pypi.org", "files.pythonhosted.org")
GRACE_S = 60
START_TIMEOUT_S = 600


def sh(*command: str, timeout: float = 3600, check: bool = True) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return done.stdout.strip()


def ok(message: str) -> None:
    print(f"ok    {message}", flush=True)


def fail(message: str) -> None:
    raise SystemExit(f"FAILED: {message}")


def local_base() -> str:
    """A minimal Debian image from Debian's own packages (made once, then reused)."""
    if sh("docker", "images", "-q", LOCAL_BASE):
        return LOCAL_BASE
    if shutil.which("debootstrap") is None:
        fail("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory() as folder:
        rootfs = Path(folder) / "rootfs"
        sh("debootstrap", "--variant=minbase", DEBIAN[0], str(rootfs), DEBIAN[1])
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", LOCAL_BASE],
                                  stdin=tar.stdout, capture_output=True, text=True, check=False)
        tar.wait()
        if imported.returncode != 0:
            fail(f"docker import: {imported.stderr}")
    return LOCAL_BASE


def host_overrides() -> list[str]:
    """`--add-host` for every package index this machine pins in /etc/hosts (a mirror or a
    proxy): the build must reach them as pip and apt here do."""
    hosts = {*INDEX_HOSTS, "download.pytorch.org", "deb.debian.org"}
    flags = []
    for line in Path("/etc/hosts").read_text().splitlines():
        address, *names = line.split("#")[0].split() or [""]
        flags += [f"--add-host={name}:{address}" for name in names if name in hosts]
    return flags


def build(image: str, base: str, unverified_index: bool) -> float:
    started = time.monotonic()
    # The classic builder: BuildKit would fetch the `# syntax` frontend from a registry.
    command = ["env", "DOCKER_BUILDKIT=0", "docker", "build", "--network", "host",
               *host_overrides(), "--build-arg", f"BASE_IMAGE={base}", "-t", image, str(ROOT)]
    if unverified_index:
        print("WARNING: pip will not verify the package index's TLS certificate in this build",
              flush=True)
        command[-3:-3] = ["--build-arg", f"PIP_TRUSTED_HOST={' '.join(INDEX_HOSTS)}"]
    sh(*command)
    return time.monotonic() - started


def check_config(image: str) -> None:
    config = json.loads(sh("docker", "image", "inspect", image))[0]["Config"]
    if config["Entrypoint"] != ENTRYPOINT:
        fail(f"entrypoint {config['Entrypoint']}, expected {ENTRYPOINT}")
    if sorted(config.get("ExposedPorts", {})) != sorted(f"{p}/tcp" for p in PORTS):
        fail(f"exposed ports {sorted(config.get('ExposedPorts', {}))}, expected {PORTS}")
    if config["User"] != USER:
        fail(f"user {config['User']!r}, expected {USER!r}")
    ok(f"entrypoint {ENTRYPOINT}, ports {PORTS}, user {USER}")


def start(image: str) -> tuple[float, str, str]:
    """Run the container as production would; return when it started and its two ports."""
    sh("docker", "rm", "-f", CONTAINER, check=False)
    started = time.monotonic()
    sh("docker", "run", "-d", "--name", CONTAINER, "--read-only",
       "--tmpfs", "/tmp:rw,nosuid,nodev,size=2g", "--cap-drop", "ALL",
       "--security-opt", "no-new-privileges", "--stop-timeout", "90",
       *[arg for port in PORTS for arg in ("-p", f"127.0.0.1::{port}")],
       image, "--grace-period-s", str(GRACE_S))
    grpc, metrics = (sh("docker", "port", CONTAINER, f"{p}/tcp").split(":")[-1] for p in PORTS)
    return started, f"127.0.0.1:{grpc}", f"http://127.0.0.1:{metrics}/metrics"


def health(target: str) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.RpcError as error:
            return error.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def wait_serving(target: str, started: float) -> float:
    deadline = started + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if health(target) == "SERVING":
            return time.monotonic() - started
        if sh("docker", "inspect", "-f", "{{.State.Running}}", CONTAINER) != "true":
            logs = subprocess.run(["docker", "logs", CONTAINER], capture_output=True, text=True,
                                  check=False)
            fail("the container exited:\n" + logs.stderr[-3000:])
        time.sleep(0.25)
    fail(f"not SERVING after {START_TIMEOUT_S} s")
    return 0.0


def check_inside() -> None:
    uid = sh("docker", "exec", CONTAINER, "id", "-u")
    if uid != USER.split(":")[0]:
        fail(f"runs as uid {uid}")
    ok(f"runs as uid {uid} (not root)")
    if sh("docker", "inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", CONTAINER) != "true":
        fail("the root file system is writable")
    for path in ("/opt/venv/x", "/etc/x", "/x"):
        written = subprocess.run(["docker", "exec", CONTAINER, "touch", path],
                                 capture_output=True, check=False)
        if written.returncode == 0:
            fail(f"{path} could be written")
    sh("docker", "exec", CONTAINER, "touch", "/tmp/x")
    ok("read-only root file system (writes refused outside the /tmp tmpfs)")
    tools = sh("docker", "exec", CONTAINER, "sh", "-c", "command -v gcc cc pip pip3 || true")
    if tools:
        fail(f"build tools in the image: {tools}")
    ok("no compiler or pip in the image")


def explain_once(target: str) -> float:
    from saliency_client import SaliencyClient
    from saliency_service.demo.shapes import generate

    image = generate(1, seed=7).images[0]
    started = time.monotonic()
    with SaliencyClient(target, timeout=120) as client:
        (result,) = client.explain(image, model="shapes", method="grad_cam")
    result.raise_for_error()
    heatmap = result.explanations[0].heatmap
    if heatmap.shape != image.shape[:2] or not np.isfinite(heatmap).all() or not heatmap.any():
        fail(f"the map is not a map: shape {heatmap.shape}")
    ok(f"Explain through the container's port returns a {heatmap.shape} map "
       f"(predicted {result.predicted_label})")
    return time.monotonic() - started


def inflight(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("saliency_inflight_items "):
                return float(line.split()[1])
    return 0.0


def check_drain(target: str, metrics_url: str) -> None:
    """SIGTERM while a long call runs: new work is turned away at once (health NOT_SERVING,
    or new calls refused as UNAVAILABLE once the server stopped taking them), the call in
    flight completes, and the container exits 0."""
    from saliency_client import SaliencyClient
    from saliency_service.demo.shapes import generate

    # Seconds of work: in flight when the signal comes, done well within the grace period.
    images = list(generate(8, seed=8).images)
    outcome: dict[str, object] = {}

    def long_call() -> None:
        with SaliencyClient(target, timeout=300) as client:
            try:
                outcome["results"] = client.explain(images, model="shapes",
                                                    method="integrated_gradients", steps=128)
            except Exception as error:  # noqa: BLE001 - reported below
                outcome["error"] = error

    caller = threading.Thread(target=long_call)
    caller.start()
    deadline = time.monotonic() + 60
    while inflight(metrics_url) == 0 and time.monotonic() < deadline:  # the gate: it is running
        time.sleep(0.05)
    if inflight(metrics_url) == 0:
        fail("the long call never started")
    sh("docker", "kill", "--signal", "TERM", CONTAINER)
    status = health(target)
    caller.join(300)
    if status not in ("NOT_SERVING", "UNAVAILABLE"):
        fail(f"health after SIGTERM: {status}")
    ok(f"after SIGTERM a health check gets {status}: no new work is routed here")
    if "error" in outcome:
        fail(f"the call in flight failed: {outcome['error']}")
    results = outcome["results"]
    if not all(r.error is None for r in results):  # type: ignore[attr-defined]
        fail("an image of the call in flight failed")
    ok(f"the call in flight ({len(images)} images of integrated gradients) completed")
    code = sh("docker", "wait", CONTAINER, timeout=120)
    if code != "0":
        fail(f"exit status {code}")
    logs = subprocess.run(["docker", "logs", CONTAINER], capture_output=True, text=True,
                          check=False)
    if "draining" not in logs.stdout + logs.stderr:
        fail("the server did not log its drain")
    ok("the container drained and exited 0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bases = parser.add_mutually_exclusive_group()
    bases.add_argument("--base-image", help="the base (default: the Dockerfile's, CUDA)")
    bases.add_argument("--local-base", action="store_true",
                       help=f"build {LOCAL_BASE} from Debian's packages and use it")
    parser.add_argument("--image", default="saliency-service:smoke")
    parser.add_argument("--skip-build", action="store_true", help="test an image already built")
    parser.add_argument(
        "--unverified-index", action="store_true",
        help="pip skips TLS verification of PyPI during the build (only for machines whose TLS "
        "proxy containers cannot verify, as in this project's sandbox; never for a release)")
    args = parser.parse_args()
    base = local_base() if args.local_base else args.base_image
    if not args.skip_build:
        build_args = base or "nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04"
        print(f"building {args.image} on {build_args} ...", flush=True)
        ok(f"built in {build(args.image, build_args, args.unverified_index):.0f} s")
    size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", args.image))
    ok(f"image size {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB)")
    check_config(args.image)
    try:
        started, target, metrics_url = start(args.image)
        serving = wait_serving(target, started)
        ok(f"health answers SERVING {serving:.1f} s after the container started (cold start)")
        first = explain_once(target)
        ok(f"first map {serving + first:.1f} s after start")
        check_inside()
        check_drain(target, metrics_url)
    finally:
        subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True, check=False)
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
