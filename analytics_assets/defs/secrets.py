"""No secret in what Dagster records: exception texts go to the event log, the run log and
the CLI output, and dlt pickles each run's trace into its working folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Failure

from analytics_assets.api.redact import MASK, environment_secrets, redacted, secret_parts
from analytics_assets.settings import ApiSettings


@contextmanager
def secrets_kept(settings: ApiSettings) -> Iterator[None]:
    """Re-raise a failure whose text (or chained cause) holds a secret as a Failure without
    it: Dagster writes exception texts to the event log, the run log and the CLI output."""
    try:
        yield
    except Exception as exc:
        secrets = [*settings.secrets, *environment_secrets()]
        _drop_traces_holding(settings, secrets)
        chain = _chain(exc)
        texts = [str(e) for e in chain]
        clean = [redacted(t, secrets) for t in texts]
        if clean == texts:
            raise
        what = " <- ".join(f"{type(e).__name__}: {t}" for e, t in zip(chain, clean, strict=True))
        raise Failure(description=f"{what} (secrets masked as {MASK})") from None


def _drop_traces_holding(settings: ApiSettings, secrets: list[str]) -> None:
    """dlt pickles each run's trace into its working folder (no setting turns it off); after
    a failure it can hold a credentials string dlt could not parse. Such a trace goes."""
    needles = [p.encode() for s in secrets for p in secret_parts(s)]
    for trace in settings.dlt_pipelines_dir.glob("*/trace.pickle"):
        try:
            if any(n in trace.read_bytes() for n in needles):
                trace.unlink()
        except OSError:
            pass


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return seen
