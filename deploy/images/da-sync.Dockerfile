# syntax=docker/dockerfile:1
# DA sync's image (a host service: it carries sealed life data between the signer,
# the memory service's change feed and the DA backends; it can read none of it).
# Build from the repository root:
#   docker build -f deploy/images/da-sync.Dockerfile -t anima-dasync .
# The build sees the lock file and exactly the workspace members anima-dasync needs
# (its closure; tests/deploy/test_images.py checks the list against the
# pyproject.toml files). docs/deploy.md says how to refresh the base digest.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY requirements.lock ./
COPY packages/stubs/ packages/stubs/
COPY packages/verify/ packages/verify/
COPY packages/core/ packages/core/
COPY packages/signer-api/ packages/signer-api/
COPY packages/memory-api/ packages/memory-api/
COPY packages/runtime-api/ packages/runtime-api/
COPY services/da-sync/ services/da-sync/
# The workspace members are installed from these folders only, never from an
# index (so no look-alike package on one can stand in for them); then their
# third-party requirements, at the lock file's versions, from the index.
RUN python -m pip wheel --no-cache-dir --no-deps -w /wheels \
      packages/stubs \
      packages/verify \
      packages/core \
      packages/signer-api \
      packages/memory-api \
      packages/runtime-api \
      services/da-sync \
 && python -m venv /opt/anima \
 && /opt/anima/bin/pip install --no-cache-dir --no-index --no-deps /wheels/*.whl \
 && /opt/anima/bin/pip install --no-cache-dir -c requirements.lock /wheels/anima_dasync-*.whl

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/anima /opt/anima
# Non-root, numeric (runAsNonRoot can check it); the root filesystem is mounted
# read-only, so the local DA directory lives on the volume at /var/lib/anima.
USER 10001:10001
ENV PATH=/opt/anima/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /var/lib/anima
ENTRYPOINT ["anima-dasync"]
CMD ["serve"]
