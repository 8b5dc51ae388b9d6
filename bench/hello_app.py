"""Baseline for `bench/run.py`: the smallest Flask app, served like the ledger.

    python -m gunicorn --config service/gunicorn.conf.py --pythonpath bench hello_app:app
"""

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/hello")
def hello() -> Response:
    return jsonify({"message": "hello, world"})
