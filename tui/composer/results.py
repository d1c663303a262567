"""The backtest results screen: metrics table, equity curve, trade list (escape returns)."""

from __future__ import annotations

from datetime import datetime, timezone

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from tui.composer.chart import EquityChart
from tui.composer.jobs import BacktestOutcome, fmt_metric

#: (metric key, label, shown as a percentage)
METRIC_ROWS = (
    ("total_return", "total return", True), ("cagr", "CAGR", True), ("sharpe", "Sharpe", False),
    ("sortino", "Sortino", False), ("calmar", "Calmar", False), ("max_drawdown", "max drawdown", True),
    ("max_drawdown_bars", "max DD duration (bars)", False), ("win_rate", "win rate", True),
    ("profit_factor", "profit factor", False), ("expectancy", "expectancy", False),
    ("exposure", "exposure", True), ("fees_paid", "fees paid", False), ("trades", "closed trades", False),
)
TRADE_COLUMNS = ("#", "side", "qty", "entry (UTC)", "entry", "exit (UTC)", "exit", "pnl", "reason")


def utc(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


class BacktestResultsScreen(Screen[None]):
    """One finished backtest of the composer's strategy."""

    DEFAULT_CSS = """
    BacktestResultsScreen #results-head { height: auto; padding: 0 1; }
    BacktestResultsScreen #metrics { width: 44; height: 1fr; }
    BacktestResultsScreen #right { width: 1fr; }
    BacktestResultsScreen #equity { height: 10; border: round $panel; }
    BacktestResultsScreen #trades { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Back to composer", id="composer.results.close"),
        Binding("t", "focus_trades", "Trades", id="composer.results.trades"),
    ]

    def __init__(self, outcome: BacktestOutcome) -> None:
        super().__init__()
        if outcome.record is None:
            raise ValueError(f"no results to show: {outcome.error}")
        self.outcome, self.record = outcome, outcome.record

    def compose(self) -> ComposeResult:
        o, r = self.outcome, self.record
        head = (f"backtest {r.strategy} on {r.data}: {r.bars:,} bars · {r.entries} entries / {r.exits} exits · "
                f"final equity {r.final_equity} · {r.seconds:.3f} s\n"
                f"fingerprint {r.fingerprint} · {o.store_note}")
        yield Static(head, id="results-head", markup=False)
        with Horizontal():
            yield DataTable(id="metrics", cursor_type="row", zebra_stripes=True)
            with Vertical(id="right"):
                yield Label(" equity curve")
                yield EquityChart(o.equity, id="equity")
                yield DataTable(id="trades", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        r = self.record
        metrics = self.query_one("#metrics", DataTable)
        metrics.add_columns("metric", "value")
        metrics.add_row("final equity", r.final_equity)
        for key, label, pct in METRIC_ROWS:
            metrics.add_row(label, fmt_metric(r.metrics.get(key), pct))
        for key, value in r.settings.items():
            metrics.add_row(key, value)
        trades = self.query_one("#trades", DataTable)
        trades.add_columns(*TRADE_COLUMNS)
        trades.add_rows((str(n), t["side"], t["qty"], utc(t["entry_ts"]), t["entry_price"], utc(t["exit_ts"]),
                         t["exit_price"] or "-", t["pnl"], t["reason"]) for n, t in enumerate(r.trades, 1))
        trades.focus()

    def action_focus_trades(self) -> None:
        self.query_one("#trades", DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)
