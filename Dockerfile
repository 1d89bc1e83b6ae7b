# The Wippy operator image: `docker build -t wippy-operator .` from the repository root.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY runtime-image/ runtime-image/
COPY operator/ operator/
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home wippy
USER 10001
ENTRYPOINT ["python", "-m", "wippy_operator"]
