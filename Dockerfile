# The operator image: `make docker-build IMG=...`. Multi-stage: the wheel and the virtualenv are
# built with pip in the builder; the final stage is a slim Python with the virtualenv only (no
# compilers, no pip cache, no sources), running as a non-root numeric user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Dependencies first, so a code change does not re-download them: resolve from pyproject.toml
# with an empty package (and an empty README, which pyproject names: an edit of the real one
# must not reinstall every dependency), then build the real wheel.
COPY pyproject.toml ./
RUN mkdir api controllers nimbusguard \
 && touch README.md api/__init__.py controllers/__init__.py nimbusguard/__init__.py \
 && python3 -m venv /opt/nimbusguard \
 && /opt/nimbusguard/bin/pip install . \
 && /opt/nimbusguard/bin/pip uninstall --yes nimbusguard-operator \
 && rm -rf api controllers nimbusguard
COPY api api
COPY controllers controllers
COPY nimbusguard nimbusguard
COPY README.md ./
RUN /opt/nimbusguard/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/nimbusguard/bin/pip install --no-deps /wheels/*.whl
# The installer is a build tool too: the final image cannot install anything.
RUN /opt/nimbusguard/bin/python -m pip uninstall --yes pip setuptools
# A name for the runtime UID: kopf asks getpass.getuser(), which fails for a UID without a
# passwd entry ("getpwuid(): uid not found: 65532"), and the operator exits. Made here, copied
# below: the final stage runs nothing.
RUN echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'nonroot:x:65532:' >> /etc/group

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="nimbusguard-operator" \
      org.opencontainers.image.description="Kubernetes operator: safe, explainable learning autoscaler" \
      org.opencontainers.image.source="https://github.com/nimbusguard/nimbusguard-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /opt/nimbusguard /opt/nimbusguard
COPY --from=builder /etc/passwd /etc/group /etc/
ENV PATH=/opt/nimbusguard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532 is the conventional "nonroot" UID; numeric so that runAsNonRoot can be verified.
USER 65532:65532
# Probes (open) and /metrics (TLS, authenticated).
EXPOSE 8081 8443
ENTRYPOINT ["nimbusguard", "run"]
