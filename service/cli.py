"""The `ledger` command: migrate, serve, project, rebuild, up, apikey, evaluate, verify."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click
from eventsourcing.persistence import InterfaceError, OperationalError

from domain.values import Provenance
from service.app import build_ledger
from service.auth import ROLES, create_api_key, parse_expiry, revoke_api_key
from service.config import DEFAULT_DATABASE_URL, ConfigError, ServerSettings, Settings
from service.integrity import verify_chains
from service.runner import (
    VIEWS,
    ProjectionRunner,
    build_projections,
    build_views,
    create_view_tables,
    follower_for,
    rebuild,
)

GUNICORN_CONF = Path(__file__).with_name("gunicorn.conf.py")


class LedgerCommands(click.Group):
    """The command group: a LEDGER_* variable it cannot use stops any command with one line
    naming the variable and what it accepts (exit 1), never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        except (OperationalError, InterfaceError) as error:
            # The URL parsed but the store cannot be reached or opened: configuration too.
            url = _redacted(os.environ.get("LEDGER_DATABASE_URL") or DEFAULT_DATABASE_URL)
            reason = " ".join(str(error).split()) or type(error).__name__
            raise click.ClickException(
                f"LEDGER_DATABASE_URL {url}: the store cannot be opened ({reason})") from None


@click.group(cls=LedgerCommands)
@click.version_option(package_name="vendor-contract-ledger", prog_name="ledger")
def main() -> None:
    """Vendor contract ledger."""


def _check_server_settings() -> None:
    """What the web workers and gunicorn.conf.py will read, checked before they start."""
    Settings.from_env()
    ServerSettings.from_env()


@main.command()
def migrate() -> None:
    """Create the event store and the ledger's tables (idempotent)."""
    settings = Settings.from_env()
    ledger = build_ledger(settings)
    try:
        ledger.create_tables()
        create_view_tables(ledger)
    finally:
        ledger.close()
    click.echo(f"migrated {_redacted(settings.database_url)}")


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args: tuple[str, ...]) -> None:
    """Run the HTTP service under gunicorn (extra arguments go to gunicorn)."""
    _check_server_settings()
    argv = ["gunicorn", "--config", str(GUNICORN_CONF), *gunicorn_args, "service.wsgi:app"]
    os.execvp(sys.executable, [sys.executable, "-m", *argv])


@main.command()
def project() -> None:
    """Run the projection runner: keep every view up to date with the ledger."""
    settings = Settings.from_env()
    ledger = build_ledger(settings)
    runner = ProjectionRunner(ledger, build_projections(build_views(ledger)),
                              batch_size=settings.projection_batch_size,
                              poll_interval=settings.projection_poll_seconds)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: runner.stop())
    click.echo(f"projecting {_redacted(settings.database_url)} into: {', '.join(VIEWS)}",
               err=True)
    try:
        runner.run_forever(follower_for(ledger))
    finally:
        ledger.close()


@main.command("rebuild")
@click.argument("names", nargs=-1, type=click.Choice(sorted(VIEWS)))
def rebuild_views(names: tuple[str, ...]) -> None:
    """Rebuild views (default: all) from position zero; readers keep the old one until the
    new one has caught up."""
    settings = Settings.from_env()
    ledger = build_ledger(settings)
    try:
        projections = {p.name: p for p in build_projections(build_views(ledger))}
        chosen = [projections[name] for name in dict.fromkeys(names or VIEWS)]
        label = f"rebuilding {', '.join(p.name for p in chosen)}"
        with click.progressbar(length=ledger.recorder.max_notification_id() or 0,
                               label=label, file=sys.stderr) as bar:
            count = rebuild(ledger, *chosen, on_progress=bar.update)
        click.echo(f"rebuilt {', '.join(p.name for p in chosen)}: {count} events")
    finally:
        ledger.close()


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def up(gunicorn_args: tuple[str, ...]) -> None:
    """Run the web service and the projection runner together (the embedded setup). A
    runner that dies is started again (reads wait for it meanwhile); the web service
    stopping stops both."""
    _check_server_settings()
    project = [sys.executable, "-m", "service.cli", "project"]
    runner = subprocess.Popen(project)
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
                            *gunicorn_args, "service.wsgi:app"])
    asked_to_stop = threading.Event()

    def stop(*_: object) -> None:
        asked_to_stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    backoff = 1.0
    while not asked_to_stop.is_set() and web.poll() is None:
        if runner.poll() is not None:
            click.echo(f"the projection runner exited ({runner.returncode}); starting it "
                       f"again in {backoff:.0f} s", err=True)
            if asked_to_stop.wait(backoff):
                break
            runner = subprocess.Popen(project)
            backoff = min(backoff * 2, 30.0)
        asked_to_stop.wait(0.5)
    for process in (web, runner):
        if process.poll() is None:
            process.terminate()
    for process in (web, runner):
        process.wait()
    # Stopped on request: success; the web service died by itself: failure.
    sys.exit(0 if asked_to_stop.is_set() else 1)


@main.group()
def apikey() -> None:
    """Manage API keys."""


@apikey.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--vendor", "vendor_id", default=None, help="vendor id (vendor role only)")
@click.option("--label", default=None, help="who or what the key is for")
@click.option("--expires", default=None, metavar="INSTANT|DURATION",
              help="when the key stops working: an ISO 8601 instant with an offset "
                   "(2026-12-31T00:00:00Z) or a duration from now (90d, 12h, 30m, P90D)")
def apikey_create(role: str, vendor_id: str | None, label: str | None,
                  expires: str | None) -> None:
    """Create an API key and print its bearer token (shown once, never stored)."""
    try:
        expires_at = None if expires is None else parse_expiry(expires, datetime.now(UTC))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--expires'") from None
    ledger = build_ledger(Settings.from_env())
    try:
        key_id, token = create_api_key(ledger.tables, role, vendor_id, label, expires_at)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    finally:
        ledger.close()
    until = f", expires {_shown(expires_at.isoformat())}" if expires_at else ""
    click.echo(f"created key {key_id} ({role}{until}); its token, shown only now:", err=True)
    click.echo(token)


API_KEY_COLUMNS = (("id", "key_id"), ("role", "role"), ("vendor", "vendor_id"),
                   ("label", "label"), ("created", "created_at"), ("expires", "expires_at"),
                   ("last used", "last_used_at"), ("revoked", "revoked_at"))


@apikey.command("list")
def apikey_list() -> None:
    """List every API key: id, role, vendor, label, created, expires, last used, revoked
    (never a token). Last use is recorded at most once a minute per key and worker."""
    ledger = build_ledger(Settings.from_env())
    try:
        keys = ledger.tables.list_api_keys()
    finally:
        ledger.close()
    rows = [[title for title, _ in API_KEY_COLUMNS]] + [
        [_shown(key[column]) if column.endswith("_at") else (key[column] or "-")
         for _, column in API_KEY_COLUMNS] for key in keys]
    widths = [max(len(row[i]) for row in rows) for i in range(len(API_KEY_COLUMNS))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                      strict=True)).rstrip())


@apikey.command("revoke")
@click.argument("key_id")
def apikey_revoke(key_id: str) -> None:
    """Revoke a key for good: it is refused (401) by every worker within a second. The key
    stays listed, with the instant of its revocation."""
    ledger = build_ledger(Settings.from_env())
    try:
        row, revoked_now = revoke_api_key(ledger.tables, key_id)
    except KeyError:
        raise click.ClickException(f"no API key {key_id!r} (see `ledger apikey list`)") from None
    finally:
        ledger.close()
    label = f", {row['label']}" if row["label"] else ""
    already = "" if revoked_now else "was already "
    click.echo(f"key {key_id} ({row['role']}{label}) {already}revoked at "
               f"{_shown(row['revoked_at'])}")


def _shown(instant: str | None) -> str:
    """An instant as the list shows it: UTC to the second, or - for none."""
    if not instant:
        return "-"
    return datetime.fromisoformat(instant).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@apikey.command("bootstrap")
def apikey_bootstrap() -> None:
    """Create a first admin key if the store has none, and print its token once."""
    ledger = build_ledger(Settings.from_env())
    try:
        if ledger.tables.count_api_keys() > 0:
            click.echo("API keys exist already; create more with `ledger apikey create`.", err=True)
            return
        key_id, token = create_api_key(ledger.tables, "admin", label="bootstrap")
    finally:
        ledger.close()
    click.echo(f"created the first admin key {key_id}; its token, shown only now:", err=True)
    click.echo(token)


@main.command()
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="judge overdue items as of this day (default: today, UTC)")
def evaluate(as_of: datetime | None) -> None:
    """Fire the time-based exit triggers of every contract (safe to run repeatedly)."""
    ledger = build_ledger(Settings.from_env())
    day = as_of.date() if as_of else ledger.clock.today()
    provenance = Provenance("ledger-evaluate", "system", f"evaluate-{uuid.uuid4()}")
    try:
        ids = ledger.contract_ids()
        with click.progressbar(length=len(ids), label="evaluating", file=sys.stderr) as bar:
            fired = ledger.evaluate_time_triggers(day, provenance,
                                                  on_contract=lambda: bar.update(1))
    finally:
        ledger.close()
    click.echo(f"evaluated {len(ids)} contracts as of {day}: {fired} exit trigger(s) fired")


@main.command()
def verify() -> None:
    """Recompute every contract's hash chain; name the first broken event."""
    ledger = build_ledger(Settings.from_env())
    try:
        total = ledger.recorder.max_notification_id() or 0
        with click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:
            report = verify_chains(ledger.recorder, ledger.mapper.transcoder, on_page=bar.update)
    finally:
        ledger.close()
    click.echo(f"checked {report.events_checked} events in {report.contracts_checked} contracts")
    if report.ok:
        click.echo("OK: every hash chain is intact")
        return
    for item in report.breaks:
        click.echo(f"BROKEN: contract {item.contract_id} version {item.version} "
                   f"(position {item.position}): {item.reason}")
    sys.exit(1)


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    main()
