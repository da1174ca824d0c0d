# One image for the worker, the API and the forecast service; the command picks the role.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libvirt-dev pkg-config gcc \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY novacron novacron
COPY streams streams
COPY models models
COPY training training
COPY serving serving
COPY actuators actuators
COPY placement placement
COPY policy policy
COPY healing healing
COPY api api
COPY store store
RUN pip install --no-cache-dir "torch==2.13.0" && pip install --no-cache-dir .
ENV BENTOML_DO_NOT_TRACK=true
USER 1000
CMD ["novacron", "worker"]
