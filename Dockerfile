# The vendor contract ledger as one container: `ledger migrate`, then gunicorn and the
# projection runner (`ledger up`). On PostgreSQL, scale out by running more containers
# with `ledger serve` (web only) and one or two with `ledger project` (the runners:
# one leads, the others stand by).
#
#   docker build -t vendor-contract-ledger .
#   docker run -p 8000:8000 -v ledger-data:/app/var vendor-contract-ledger
#   docker run --rm -v ledger-data:/app/var vendor-contract-ledger ledger apikey bootstrap
#
# Configuration comes only from LEDGER_* variables (see the README), e.g.
#   -e LEDGER_DATABASE_URL='postgresql://ledger:secret@db:5432/ledger?schema=ledger'
# Without LEDGER_DATABASE_URL the embedded SQLite file /app/var/ledger.db is used:
# keep /app/var on a volume.

# ---- build: a virtual environment with the pinned dependencies and the package ----
FROM python:3.11-slim-bookworm AS build

# pip compiles the installed modules here: the runtime user cannot write to /opt/venv.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, in their own layer: the direct dependencies named in
# pyproject.toml, at the exact versions of constraints.txt. psycopg[binary] brings its
# own libpq, so the slim runtime image needs no system packages for PostgreSQL.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['project']['dependencies']))" > requirements.txt \
 && pip install --no-cache-dir --constraint constraints.txt --requirement requirements.txt

# The package itself (not editable): it provides the `ledger` console script. The code
# that runs is the tree under /app in the runtime stage (PYTHONPATH=/app comes first).
# service/openapi.yaml links to ./openapi.yaml, which the wheel ships as package data.
COPY README.md LICENSE openapi.yaml ./
COPY domain/ domain/
COPY projections/ projections/
COPY service/ service/
RUN pip install --no-cache-dir --no-deps .

# ---- runtime ----
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH \
    LEDGER_BIND=0.0.0.0:8000

# A system user without a login shell; it owns only the data directory. USER names it
# by number so that runtimes can check it is not root (e.g. runAsNonRoot).
RUN groupadd --system --gid 10001 ledger \
 && useradd --system --uid 10001 --gid ledger --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin ledger

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The source tree at /app: the service reads service/openapi.yaml, a link to
# /app/openapi.yaml.
# Files stay owned by root, so the app user cannot change its own code.
COPY domain/ domain/
COPY projections/ projections/
COPY service/ service/
COPY openapi.yaml pyproject.toml README.md LICENSE constraints.txt ./

# Precompile the tree (the app user cannot write bytecode next to it). The default
# SQLite store is sqlite:///var/ledger.db, relative to /app. gunicorn puts its control
# socket (for `gunicornc`) in $XDG_RUNTIME_DIR, else in $HOME/.gunicorn, and the app
# user's home (/app) is not writable: give it a private runtime directory.
RUN python -m compileall -q domain projections service \
 && mkdir -p /app/var /run/ledger \
 && chown ledger:ledger /app/var /run/ledger \
 && chmod 0700 /run/ledger
ENV XDG_RUNTIME_DIR=/run/ledger
VOLUME ["/app/var"]

USER 10001:10001

EXPOSE 8000

# /readyz answers 200 only when the database answers; there is no curl in the slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('LEDGER_BIND', '0.0.0.0:8000').rsplit(':', 1)[-1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=4)"]

# Create or upgrade the store (idempotent), then replace the shell with `ledger up` so it
# is PID 1, gets SIGTERM directly and passes it to gunicorn and the runner.
CMD ["sh", "-c", "ledger migrate && exec ledger up"]
