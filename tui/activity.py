"""Turning the account's engine events into one-line activity rows and notifications.

Pure functions (no textual): the trade screen pulls ``state.events_since(seq)`` each pump tick,
passes them through ``summarise`` (fills of one order in one tick become one line, so a market
order sweeping five levels is one "filled" notice with its average price) and shows the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Notice:
    event: str  # accepted | filled | rejected | canceled | expired | triggered | halted | resumed | modified | state
    order_id: str
    detail: str
    severity: str  # information | warning | error

    def row(self) -> tuple[str, str, str]:
        return (self.event, self.order_id, self.detail)

    def message(self) -> str:
        who = f" {self.order_id}" if self.order_id else ""
        return f"{self.event.capitalize()}{who}: {self.detail}" if self.detail else f"{self.event.capitalize()}{who}"


def own_sides(trade: dict, account: str) -> list[tuple[str, str]]:
    """``(order id, side)`` for each side of a trade event that is ``account``'s (both for a
    self-trade, none for someone else's trade)."""
    taker = trade["taker_side"]
    out = []
    if trade.get("maker_account") == account:
        out.append((trade["maker_id"], "sell" if taker == "buy" else "buy"))
    if trade.get("taker_account") == account:
        out.append((trade["taker_id"], taker))
    return out


def summarise(events: list[dict], account: str) -> list[Notice]:
    """Notices for ``events`` concerning ``account``, fills aggregated per order id."""
    out: list[Notice] = []
    fills: dict[str, list[tuple[Decimal, Decimal, str, str]]] = {}
    order: list[str] = []
    for ev in events:
        kind = ev.get("event")
        if kind == "trade":
            for oid, side in own_sides(ev, account):
                if oid not in fills:
                    fills[oid] = []
                    order.append(oid)
                    out.append(Notice("filled", oid, "", "information"))  # placeholder, filled below
                fills[oid].append((Decimal(ev["price"]), Decimal(ev["qty"]), ev["symbol"], side))
        elif kind == "accepted":
            price = f" @ {ev['price']}" if "price" in ev else ""
            stop = f" stop {ev['stop_price']}" if "stop_price" in ev else ""
            out.append(Notice("accepted", ev.get("id", ""), f"{ev['side']} {ev['type']} {ev['qty']} {ev['symbol']}{price}{stop} {ev['tif']}", "information"))
        elif kind == "rejected":
            out.append(Notice("rejected", ev.get("id", ""), f"{ev.get('reason')}: {ev.get('message')}", "error"))
        elif kind in ("canceled", "expired"):
            out.append(Notice(kind, ev.get("id", ""), f"{ev.get('leaves_qty', '')} left ({ev.get('reason', '')})", "warning"))
        elif kind == "triggered":
            out.append(Notice("triggered", ev.get("id", ""), "stop reached", "information"))
        elif kind == "modified":
            price = f" @ {ev['price']}" if ev.get("price") else ""
            out.append(Notice("modified", ev.get("id", ""), f"{ev.get('qty', '')}{price} ({ev.get('priority', '')} priority)", "information"))
        elif kind == "halted":
            out.append(Notice("halted", "", f"{ev.get('scope')} {ev.get('account') or ev.get('symbol')}: {ev.get('reason')}", "error"))
        elif kind == "resumed":
            out.append(Notice("resumed", "", f"{ev.get('scope')} {ev.get('symbol') or ev.get('account')}: {ev.get('reason')}", "information"))
        elif kind == "state":
            out.append(Notice("state", "", f"{ev.get('scope')} {ev.get('account') or ev.get('symbol')} -> {ev.get('state')}",
                              "warning" if ev.get("state") != "ACTIVE" else "information"))
    # Fill in the aggregated fill notices in place.
    for i, n in enumerate(out):
        if n.event == "filled" and not n.detail:
            legs = fills[n.order_id]
            qty = sum(q for _, q, _, _ in legs)
            avg = sum(p * q for p, q, _, _ in legs) / qty
            places = max(-legs[0][0].as_tuple().exponent, 0)
            avg_s = f"{avg.quantize(Decimal(1).scaleb(-(places + 2)))}" if len(legs) > 1 else str(legs[0][0])
            out[i] = Notice("filled", n.order_id, f"{legs[0][3]} {qty} {legs[0][2]} @ {avg_s} ({len(legs)} fill{'s' if len(legs) > 1 else ''})", "information")
    return out
