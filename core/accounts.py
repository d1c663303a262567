"""Account balances: available and held, per account and asset, in integer asset units.

Every movement is a transfer between two buckets, so for each asset the sum over all accounts
(the venue's fee account included) only changes through deposits and withdrawals. The ledger
refuses any movement that would drive a bucket negative: that would be a bug upstream, and
failing loudly beats silently corrupting balances.
"""

from __future__ import annotations

VENUE_ACCOUNT = "venue"


class LedgerError(RuntimeError):
    """A movement that would make a balance negative (an engine bug, never user input)."""


class Ledger:
    """Available and held balances; ``totals`` tracks net deposits per asset for audits."""

    def __init__(self) -> None:
        self.available: dict[tuple[str, str], int] = {}
        self.held: dict[tuple[str, str], int] = {}
        self.accounts: set[str] = {VENUE_ACCOUNT}
        self.deposited: dict[str, int] = {}

    def has_account(self, account: str) -> bool:
        return account in self.accounts

    def free(self, account: str, asset: str) -> int:
        return self.available.get((account, asset), 0)

    def on_hold(self, account: str, asset: str) -> int:
        return self.held.get((account, asset), 0)

    def deposit(self, account: str, asset: str, units: int) -> None:
        self.accounts.add(account)
        key = (account, asset)
        self.available[key] = self.available.get(key, 0) + units
        self.deposited[asset] = self.deposited.get(asset, 0) + units

    def withdraw(self, account: str, asset: str, units: int) -> bool:
        key = (account, asset)
        if self.available.get(key, 0) < units:
            return False
        self.available[key] -= units
        self.deposited[asset] -= units
        return True

    def hold(self, account: str, asset: str, units: int) -> bool:
        """Move ``units`` from available to held; False (nothing moved) if not enough."""
        key = (account, asset)
        avail = self.available.get(key, 0)
        if avail < units:
            return False
        self.available[key] = avail - units
        self.held[key] = self.held.get(key, 0) + units
        return True

    def release(self, account: str, asset: str, units: int) -> None:
        """Held back to available (cancel, refund of a better fill price)."""
        if units == 0:
            return
        key = (account, asset)
        held = self.held.get(key, 0)
        if held < units:
            raise LedgerError(f"release of {units} {asset} exceeds {account}'s hold {held}")
        self.held[key] = held - units
        self.available[key] = self.available.get(key, 0) + units

    def pay(self, account: str, asset: str, units: int, from_held: bool, to: str) -> None:
        """Transfer ``units`` out of an account (held or available) into ``to``'s available."""
        if units == 0:
            return
        key = (account, asset)
        bucket = self.held if from_held else self.available
        have = bucket.get(key, 0)
        if have < units:
            where = "held" if from_held else "available"
            raise LedgerError(f"{account} pays {units} {asset} but has {have} {where}")
        bucket[key] = have - units
        dest = (to, asset)
        self.available[dest] = self.available.get(dest, 0) + units
        self.accounts.add(to)

    def total(self, asset: str) -> int:
        """Sum over all accounts of available + held for ``asset``."""
        return sum(v for (_, a), v in self.available.items() if a == asset) + sum(
            v for (_, a), v in self.held.items() if a == asset
        )

    def assets(self) -> set[str]:
        return {a for (_, a) in self.available} | {a for (_, a) in self.held}

    def snapshot(self) -> dict[str, dict[str, tuple[int, int]]]:
        """account -> asset -> (available, held), for non-zero buckets, sorted."""
        out: dict[str, dict[str, tuple[int, int]]] = {}
        for key in sorted(set(self.available) | set(self.held)):
            avail = self.available.get(key, 0)
            held = self.held.get(key, 0)
            if avail or held:
                out.setdefault(key[0], {})[key[1]] = (avail, held)
        return out
