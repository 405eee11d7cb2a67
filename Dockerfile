# Triage runtime image: the scoring API (no torch) plus the corpus tools.
# Build: docker build -t triage .
# Serve: docker run --rm -p 8000:8000 -v /path/to/artifact:/model:ro -e TRIAGE_MODEL_PATH=/model triage
#        (or TRIAGE_MLFLOW_TRACKING_URI=http://mlflow:5000 to load the registry's champion instead)
#        the review console at /review needs -e TRIAGE_SESSION_SECRET=<32+ random characters> (no default)
# Keys:  docker run --rm -v triage-data:/var/lib/triage triage keys create --name intake-web --role intake
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
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
ENTRYPOINT ["triage"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
