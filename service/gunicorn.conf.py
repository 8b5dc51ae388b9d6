"""gunicorn settings for `ledger serve`; each can be overridden by LEDGER_* variables."""

import os
import sys

from service.config import ServerSettings

# Checked by `ledger serve` and `ledger up` before gunicorn starts (one line, no traceback).
_server = ServerSettings.from_env()
bind = _server.bind
# Threads let one worker's group committer batch many requests into one transaction.
worker_class = "gthread"
workers = _server.workers
threads = _server.threads
# Never preload: each worker builds its application (and database pool) after fork.
preload_app = False
# Heartbeat files on a container's overlay filesystem can block; memory never does.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = _server.access_log
errorlog = "-"
loglevel = _server.log_level
# gunicorn's control socket (for gunicornc) defaults to one path per user,
# $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl, which every instance on the
# host would fight over: it is off unless LEDGER_CONTROL_SOCKET names this instance's path.
control_socket_disable = not os.environ.get("LEDGER_CONTROL_SOCKET")
if os.environ.get("LEDGER_CONTROL_SOCKET"):
    control_socket = os.environ["LEDGER_CONTROL_SOCKET"]


def post_fork(server: object, worker: object) -> None:
    """Shorten the GIL switch interval in each worker.

    The group committer thread waits on the database and then must win the GIL back
    from up to `threads` busy request threads; with the default 5 ms interval every
    round trip of a commit can wait that long.
    """
    sys.setswitchinterval(0.0005)
