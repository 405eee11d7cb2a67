#!/bin/sh
# Runs once, when the postgres container starts on an empty data volume (/docker-entrypoint-initdb.d): creates
# the `triage` database (the scoring service) and the `mlflow` database (MLflow's tracking and registry store),
# each owned by its own login role. The passwords come from the container's environment (compose.yaml requires
# them); psql's :'var' quoting keeps them literal.
set -eu

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
     -v triage_password="$TRIAGE_DB_PASSWORD" -v mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE triage LOGIN PASSWORD :'triage_password';
CREATE DATABASE triage OWNER triage;
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
SQL
