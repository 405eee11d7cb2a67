# Triage serving image: the scoring API, the review console and the key and database commands. No torch, no
# transformers: `deploy/install-serving.sh` installs the `serve` extra only (onnxruntime, tokenizers, FastAPI,
# SQLAlchemy, the MLflow registry client). CI runs the same script and serves a model from its result
# (tests/deploy/), and lints this file with hadolint.
#
# Build:  docker build -t triage .
#
# The model, one of two ways:
#   mounted:  docker run --rm -p 8000:8000 -v /path/to/var/models/demo:/model:ro -e TRIAGE_MODEL_PATH=/model triage
#             (an artifact folder written by `triage export`: artifact.json, model.onnx, tokenizer.json)
#   registry: -e TRIAGE_MLFLOW_TRACKING_URI=http://mlflow:5000 loads the version the alias `champion` names
#             (TRIAGE_MODEL_ALIAS), downloads it into /var/lib/triage/serving/models and follows the alias every
#             TRIAGE_MODEL_POLL_SECONDS; compose.yaml wires this up with an MLflow server.
# Database: TRIAGE_DATABASE_URL=postgresql+psycopg://user:password@host/triage (default: SQLite in the
#           /var/lib/triage volume); migrations run at start (TRIAGE_DATABASE_MIGRATE_ON_START).
# Secrets are never baked in: pass them at run time. The review console at /review is on only with
#           -e TRIAGE_SESSION_SECRET=<32+ random characters> (no default).
# Commands: the entrypoint is `triage`:
#           docker run --rm -e TRIAGE_DATABASE_URL=... triage keys create --name intake-web --role intake
#           docker run --rm -e TRIAGE_DATABASE_URL=... triage db upgrade
#           `triage rollback` works too (the registry client is installed); `triage data`, `train`, `export`,
#           `evaluate` and `promote` need the train and data extras (torch, pyarrow): run them where you train.
# Runs as uid 10001 (not root); writes only to /var/lib/triage.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy ./deploy
COPY model ./model
COPY serving ./serving
COPY training ./training
COPY evaluation ./evaluation
COPY triage ./triage
RUN sh deploy/install-serving.sh /opt/venv /src

FROM python:3.11-slim-bookworm
RUN groupadd --gid 10001 triage \
    && useradd --no-log-init --create-home --uid 10001 --gid 10001 triage \
    && mkdir -p /var/lib/triage \
    && chown 10001:10001 /var/lib/triage
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TRIAGE_WORK_DIR=/var/lib/triage \
    TRIAGE_DATA_CARDS_DIR=/var/lib/triage/data_cards \
    TRIAGE_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/triage
VOLUME ["/var/lib/triage"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]
ENTRYPOINT ["triage"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
