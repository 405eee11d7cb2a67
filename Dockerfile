# Triage runtime image: the light serving path (no torch) plus the corpus tools.
# Build: docker build -t triage .   Run: docker run --rm -v /path/to/datasets:/data triage data build
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY model ./model
COPY serving ./serving
COPY training ./training
COPY evaluation ./evaluation
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir '.[serve,data]'

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 triage
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TRIAGE_DATASETS_DIR=/data \
    TRIAGE_WORK_DIR=/var/lib/triage \
    TRIAGE_DATA_CARDS_DIR=/var/lib/triage/data_cards
RUN mkdir -p /var/lib/triage && chown triage /var/lib/triage
USER triage
WORKDIR /var/lib/triage
ENTRYPOINT ["triage"]
CMD ["--help"]
