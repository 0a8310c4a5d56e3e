# syntax=docker/dockerfile:1
# The witness's image: a C2SP tlog-witness any third party can run alone.
# Build from the repository root:
#   docker build -f deploy/images/witness.Dockerfile -t anima-witness .
# The build sees the lock file and exactly the workspace members anima-witness needs
# (its closure; tests/deploy/test_images.py checks the list against the
# pyproject.toml files). docs/deploy.md says how to refresh the base digest.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY requirements.lock ./
COPY packages/verify/ packages/verify/
COPY packages/core/ packages/core/
COPY services/witness/ services/witness/
# The workspace members are installed from these folders only, never from an
# index; then their third-party requirements, at the lock file's versions.
RUN python -m pip wheel --no-cache-dir --no-deps -w /wheels \
      packages/verify \
      packages/core \
      services/witness \
 && python -m venv /opt/anima \
 && /opt/anima/bin/pip install --no-cache-dir --no-index --no-deps /wheels/*.whl \
 && /opt/anima/bin/pip install --no-cache-dir -c requirements.lock /wheels/anima_witness-*.whl

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/anima /opt/anima
# Non-root, numeric; the root filesystem is mounted read-only, so the key and the
# state (witness.sqlite3, fsynced) live on the volume at /var/lib/anima.
USER 10001:10001
ENV PATH=/opt/anima/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /var/lib/anima
ENTRYPOINT ["anima-witness"]
CMD ["serve", "--state-dir", "/var/lib/anima", "--listen", "0.0.0.0:7380"]
