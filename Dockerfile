# The Wippy operator image: `docker build -t wippy-operator .` from the repository root.
# BASE_IMAGE: any image with python >= 3.11 and pip on PATH, and useradd (the tests use a Debian
# base built by scripts/images.sh).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY pyproject.toml ./
COPY runtime-image/ runtime-image/
COPY operator/ operator/
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home wippy
USER 10001
ENTRYPOINT ["python", "-m", "wippy_operator"]
