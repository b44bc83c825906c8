"""`customer-sync sync`: sync from a connected source."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
import typer

from connectors import FatalSourceError
from models import SchemaOutOfDateError
from sync.cli._common import (
    JsonOption,
    err,
    fail,
    fail_source,
    fail_unexpected,
    interrupted,
    read_settings,
    report,
)
from sync.cli._display import shown
from sync.cli._worker import enqueue, report_queued, require_broker
from sync.pipeline import StreamBusy

app = typer.Typer(help="Sync from a connected source.", no_args_is_help=True)


class SalesforceStreamName(StrEnum):
    contacts = "contacts"
    orders = "orders"


@app.command("salesforce")
def sync_salesforce_command(
    stream: Annotated[
        SalesforceStreamName, typer.Option(help="What to sync: contacts → customers, orders → orders.")
    ] = SalesforceStreamName.contacts,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not only what changed.")] = False,
    enqueue_it: Annotated[
        bool,
        typer.Option(
            "--enqueue", help="Send it to the Celery worker (needs CELERY_BROKER_URL); print the run id."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Sync a Salesforce stream (resuming a paused or failed run) and print the run summary."""
    from sync.jobs import queue_salesforce, sync_salesforce

    settings = read_settings()
    if enqueue_it:
        require_broker(settings)
        try:
            run_id = queue_salesforce(settings, stream=stream.value, full=full, trigger="cli")
        except FatalSourceError as exc:
            fail_source(exc, as_json, redacted=True)
        except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
            fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
        except Exception as exc:
            fail_unexpected(exc, as_json)
        kwargs = {"full": full, "trigger": "cli", "run_id": run_id}
        report_queued(run_id, enqueue(settings, f"sync.salesforce.{stream.value}", kwargs), as_json)
        return
    try:
        summary = sync_salesforce(settings, stream=stream.value, full=full, trigger="cli")
    except StreamBusy as exc:
        fail(str(exc))
    except FatalSourceError as exc:
        fail_source(exc, as_json, redacted=True)
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    except KeyboardInterrupt as exc:
        interrupted(exc)
    except Exception as exc:
        fail_unexpected(exc, as_json)
    report(summary, as_json)
    if summary.status == "paused":
        # One line whatever the width, as `skipped:`: a script greps it, and a pipe is no terminal.
        err.print(shown(f"paused: {summary.error}; run the same command later to resume"), soft_wrap=True)


@app.command("spotify")
def sync_spotify_command(as_json: JsonOption = False) -> None:
    """Re-read every linked Spotify profile and print the run summary.

    Revoked links are marked for re-linking and rate-limited accounts deferred past
    Retry-After: both count as warnings (see `customer-sync runs show RUN`), never as failures.
    """
    from sync.jobs import sync_spotify

    settings = read_settings()
    try:
        summary = sync_spotify(settings, trigger="cli")
    except FatalSourceError as exc:
        fail_source(exc, as_json, redacted=True)
    except (SchemaOutOfDateError, sa.exc.OperationalError) as exc:
        fail(f"store unavailable: {getattr(exc, 'orig', exc)}")
    except KeyboardInterrupt as exc:
        interrupted(exc)
    except Exception as exc:
        fail_unexpected(exc, as_json)
    report(summary, as_json)
