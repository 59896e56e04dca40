"""`cc-console report queue|agent|tenant|interval|category|busiest|erlang|campaign ...`: reports to CSV, xlsx, PDF."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

report_app = typer.Typer(help="Reports and statistics from the event store: CSV, Excel, PDF.",
                         no_args_is_help=True, pretty_exceptions_show_locals=False)

ConfigOpt = typer.Option(None, "--config", "-c", help="Config TOML.", envvar="CC_CONSOLE_CONFIG")


def _run(kind: str, config: Path | None, frm: str, to: str | None, queue: list[str], agent: list[str],
         tenant: list[str], interval: str, fmt: str, out: Path | None, tz: str | None,
         sl: float | None, sl_formula: str, short_abandon: float, buckets: str | None, db: Path | None,
         intraday: bool, ring_buckets: str | None = None, **extra: Any) -> None:
    from cc_console.config import load_settings
    from cc_console.server.acd.config import from_queue_settings, load_routing
    from cc_console.server.reports import default_tz, params_from, run
    from cc_console.server.reports.cache import ReportCache
    from cc_console.server.reports.export import render, to_csv

    try:
        s = load_settings(config)
        routing = Path(s.server.routing_file) if s.server.routing_file else None
        from cc_console.config import config_dir
        if routing is None and (config_dir() / "routing.toml").exists():
            routing = config_dir() / "routing.toml"
        cfg = load_routing(routing) if routing else from_queue_settings(s.queues)
        zone = tz or default_tz(cfg)
        p = params_from(kind, frm, to, tz=zone, intraday=intraday, queues=list(queue), agents=list(agent),
                        tenants=list(tenant), interval=interval, sl_threshold=sl, sl_formula=sl_formula,
                        short_abandon=short_abandon,
                        buckets=[float(b) for b in buckets.split(",")] if buckets else None,
                        ring_buckets=[float(b) for b in ring_buckets.split(",")] if ring_buckets else None, **extra)
        cache = None
        if not (kind == "erlang" and extra.get("calls") is not None):
            from cc_console.server.store import open_configured, store_url
            # [store] url: the events are in PostgreSQL (the read model's file stays local); --db wins.
            cache = ReportCache(open_configured(s) if db is None and store_url(s) else (db or s.server.db_file))
        report = run(cache, cfg, p)
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    data = render(report, fmt)
    if out:
        out.write_bytes(data)
        typer.echo(f"wrote {out} ({fmt}, {len(report.rows)} rows)")
    elif fmt == "csv":
        typer.echo(to_csv(report).decode(), nl=False)
    else:
        raise typer.BadParameter("--out is needed for xlsx and pdf")


def _common(kind: str):
    def cmd(config: Path | None = ConfigOpt,
            frm: str = typer.Option("today", "--from",
                                    help="Start: ISO date/time (local to --tz), epoch, today, yesterday."),
            to: str | None = typer.Option(None, "--to", help="End (exclusive); default now."),
            queue: list[str] = typer.Option([], "--queue", "-q", help="A queue (repeat); default all."),
            agent: list[str] = typer.Option([], "--agent", "-a", help="An agent (repeat); default all."),
            tenant: list[str] = typer.Option([], "--tenant", "-t", help="A tenant (repeat); default all."),
            interval: str = typer.Option("total" if kind not in ("interval", "erlang") else "30", "--interval",
                                         help="15, 30, 60, hour, day, week, month or total."),
            fmt: str = typer.Option("csv", "--format", "-f", help="csv, xlsx or pdf."),
            out: Path | None = typer.Option(None, "--out", "-o", help="Output file (stdout for csv if omitted)."),
            tz: str | None = typer.Option(None, help="Time zone (default: the first queue's)."),
            sl: float | None = typer.Option(None, "--sl", help="Service-level threshold, s (default: each queue's)."),
            sl_formula: str = typer.Option("answered", help="answered, offered or offered_minus_short."),
            short_abandon: float = typer.Option(5.0, help="Abandons quicker than this (s) are short."),
            buckets: str | None = typer.Option(None, help="Wait buckets, s, e.g. 10,20,30,60,120."),
            ring_buckets: str | None = typer.Option(None, help="Ring-to-answer bands, s, e.g. 5,10,15,20,30."),
            intraday: bool = typer.Option(False, help="End at the last completed interval."),
            db: Path | None = typer.Option(None, help="SQLite event store (default from config)."),
            calls: float | None = typer.Option(None, help="erlang: calls per interval (else from the store)."),
            aht: float | None = typer.Option(None, help="erlang: average handle time, s."),
            target: float = typer.Option(0.8, help="erlang: target service level (0..1)."),
            top: int = typer.Option(10, help="busiest: how many periods (of --interval 15, 30, hour or day; "
                                             "default hours).")) -> None:
        extra: dict[str, Any] = {"top": top}
        if kind == "erlang":
            secs = {"15": 900.0, "30": 1800.0, "60": 3600.0, "hour": 3600.0}.get(interval, 1800.0)
            extra.update(calls=calls, aht=aht, target_sl=target, interval_s=secs)
        _run(kind, config, frm, to, queue, agent, tenant, interval, fmt, out, tz, sl, sl_formula, short_abandon,
             buckets, db, intraday, ring_buckets, **extra)
    cmd.__doc__ = f"The {kind} report."
    return cmd


for _kind in ("queue", "agent", "tenant", "interval", "category", "busiest", "erlang"):
    report_app.command(_kind)(_common(_kind))


CAMPAIGN_COLUMNS = ["campaign", "name", "mode", "state", "contacts", "attempts", "tried", "reached", "reach_pct",
                    "abandon_pct", "occupancy_pct", "answered", "busy", "no_answer", "machine", "failed", "abandoned"]


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 2)


@report_app.command("campaign")
def campaign_report(
        campaign: list[str] = typer.Argument(None, help="Campaign ids (default: every campaign)."),
        config: Path | None = ConfigOpt,
        fmt: str = typer.Option("csv", "--format", "-f", help="csv, xlsx or pdf."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output file (stdout for csv if omitted)."),
        answers: bool = typer.Option(False, "--answers", help="The call scripts' answers counted, one row each."),
        db: Path | None = typer.Option(None, help="SQLite event store (default from config); the campaigns are "
                                                  "in <db>.outbound.sqlite3 beside it (with [store] url and no --db: "
                                                  "in PostgreSQL).")) -> None:
    """Outbound campaigns: attempts, reach rate, outcomes, abandonment rate, agent occupancy (or, with
    --answers, the script answers). docs/outbound.md."""
    from cc_console.config import load_settings
    from cc_console.server.outbound.campaigns import CampaignError
    from cc_console.server.outbound.service import OutboundService
    from cc_console.server.outbound.store import OutboundStore
    from cc_console.server.reports.export import render, to_csv
    from cc_console.server.reports.figures import Report
    from cc_console.server.store import capability_target
    target = f"{db}.outbound.sqlite3" if db else capability_target(load_settings(config), "outbound")
    if "://" not in target and not Path(target).exists():  # PostgreSQL ([store] url): its schema is made if new
        raise typer.BadParameter(f"no campaigns at {target}")
    store = OutboundStore(target)
    try:
        service = OutboundService(store)
        ids = list(campaign or []) or [c.id for c in service.campaigns()]
        rows: list[list[Any]] = []
        for cid in ids:
            try:
                c, r = service.get(cid), service.report(cid)
            except CampaignError as exc:
                raise typer.BadParameter(f"{cid}: {exc}") from None
            if answers:
                rows += [[cid, c.name, q, a, n] for q, counts in sorted(r["answers"].items())
                         for a, n in sorted(counts.items())]
                continue
            o = r["outcomes"]
            rows.append([cid, c.name, str(c.mode), r["state"], r["contacts"], r["attempts"], r["contacts_tried"],
                         r["reached"], _pct(r["reach_rate"]), _pct(r["abandon_rate"]), _pct(r["occupancy"]),
                         *(o.get(k, 0) for k in ("answered", "busy", "no_answer", "machine", "failed", "abandoned"))])
    finally:
        store.close()
    report = Report(title="Campaign script answers" if answers else "Campaigns",
                    params={"campaigns": ", ".join(ids) or "(none)"},
                    columns=["campaign", "name", "question", "answer", "count"] if answers else CAMPAIGN_COLUMNS,
                    rows=rows)
    if out:
        out.write_bytes(render(report, fmt))
        typer.echo(f"wrote {out} ({fmt}, {len(rows)} rows)")
    elif fmt == "csv":
        typer.echo(to_csv(report).decode(), nl=False)
    else:
        raise typer.BadParameter("--out is needed for xlsx and pdf")
