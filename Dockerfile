# syntax=docker/dockerfile:1
# saliency-server. GPU nodes (the default) run on NVIDIA's CUDA runtime image with cuDNN, which
# ONNX Runtime's CUDA provider needs beside torch's own CUDA wheels. CPU nodes take a plain
# Ubuntu base and torch's CPU wheels, several GB smaller:
#
#   docker build -t saliency-service:0.1.0-cuda13.0 .
#   docker build -t saliency-service:0.1.0-cpu \
#       --build-arg BASE_IMAGE=ubuntu:24.04 \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .
#
# EXTRAS defaults to `models` (timm and Hugging Face transformers, so that every model format of
# the repository loads, pinned in deploy/constraints.txt). `--build-arg EXTRAS=models,bulk` adds
# Ray Data for bulk jobs (the image of a KubeRay RayJob, deploy/bulk/rayjob.yaml); the server's
# own image leaves it out.
#
# Any Debian-like base with python3 >= 3.11 works; scripts/smoke_image.py builds one from
# Debian's packages (debootstrap + docker import) where no registry can be reached, then builds
# this image on it and smoke-tests it (health, an Explain, non-root, read-only root, drain).
#
# The built-in demo repository ships inside the package. Mount your own at /models and set
# SALIENCY_REPOSITORY=/models (the Kubernetes manifests in deploy/ do).
ARG BASE_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------- build stage
FROM ${BASE_IMAGE} AS builder
ARG TORCH_INDEX_URL=https://pypi.org/simple
ARG EXTRAS=models
# Only for build machines whose TLS proxy cannot be verified from containers (scripts/
# smoke_image.py --unverified-index); empty, pip verifies every download.
ARG PIP_TRUSTED_HOST=""
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Ubuntu drops superseded package versions from its archive, so exact apt pins break builds;
# the base image tag fixes the release, and security fixes still come in.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY deploy/constraints.txt ./
COPY pyproject.toml README.md ./
COPY client/ client/
COPY service/ service/
# Wheels of the two packages, then an environment with every dependency at its pinned version.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./client . \
    && for wheel in /wheels/saliency_service-*.whl; do service="${wheel}"; done \
    && /opt/venv/bin/pip install --no-cache-dir --constraint constraints.txt \
        --extra-index-url "${TORCH_INDEX_URL}" /wheels/saliency_client-*.whl \
        "${service}${EXTRAS:+[${EXTRAS}]}" \
    && /opt/venv/bin/python -m pip uninstall --yes pip
# Slim: nothing the server runs needs Triton (torch.compile's GPU kernel compiler, 0.9 GB; the
# server compiles nothing), C headers, static libraries or the packages' own test suites.
RUN site="$(/opt/venv/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && rm -rf "${site}/triton" "${site}/torch/include" "${site}/onnx/backend/test" \
    && find /opt/venv \( -name '*.a' -o -type d -name tests \) -prune -exec rm -rf {} +

# -------------------------------------------------------------------------- runtime stage
FROM ${BASE_IMAGE} AS runtime
# The interpreter only: no compiler, no pip, no venv tooling.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 saliency \
    && useradd --system --uid 10001 --gid saliency --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin saliency \
    && mkdir /models
COPY --from=builder /opt/venv /opt/venv
# HOME and caches point at /tmp: Kubernetes mounts the root file system read-only and an
# emptyDir at /tmp. Probes are Kubernetes' native gRPC ones, so there is no HEALTHCHECK.
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache
# A numeric user, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /tmp
EXPOSE 50051 9090
ENTRYPOINT ["saliency-server"]
