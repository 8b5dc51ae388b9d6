"""What gunicorn runs: `service.wsgi:app`. Each worker imports this after fork."""

from service.app import create_app

app = create_app()
