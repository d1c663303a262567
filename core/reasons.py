"""Reject reason codes: every rejected command carries exactly one of these.

Kept in one table so the CLI, the README and the tests share the same vocabulary.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # malformed input
    "MALFORMED_JSON": "the line is not a JSON object",
    "UNKNOWN_OP": "the op is not one the engine knows",
    "UNKNOWN_FIELD": "a field the op does not take",
    "MISSING_FIELD": "a required field is absent",
    "INVALID_VALUE": "a field has the wrong type or a value outside its allowed set",
    "INVALID_NUMBER": "a number is not a plain decimal string (floats, exponents, NaN are refused)",
    "TIME_WENT_BACKWARDS": "ts is earlier than the engine clock",
    # reference data
    "UNKNOWN_SYMBOL": "no instrument with that symbol",
    "UNKNOWN_ASSET": "no instrument trades that asset",
    "UNKNOWN_ACCOUNT": "the account has never been funded",
    "DUPLICATE_ID": "an order with that id was already accepted",
    "UNKNOWN_ORDER": "no order with that id",
    "ORDER_NOT_OPEN": "the order is already filled, cancelled or expired",
    "DUPLICATE_SYMBOL": "the instrument exists with a different definition",
    # grid and size
    "OFF_GRID_PRICE": "price is not a multiple of the tick size",
    "OFF_GRID_QTY": "quantity is not a multiple of the lot size",
    "OFF_GRID_AMOUNT": "amount is finer than the asset's smallest unit",
    "NON_POSITIVE_PRICE": "price must be positive",
    "NON_POSITIVE_QTY": "quantity must be positive",
    "NON_POSITIVE_AMOUNT": "amount must be positive",
    "QTY_TOO_LARGE": "quantity above the instrument's maximum",
    "PRICE_TOO_LARGE": "price above the instrument's maximum",
    "BELOW_MIN_QTY": "quantity below the instrument's minimum",
    "BELOW_MIN_NOTIONAL": "price x quantity below the instrument's minimum notional",
    "INVALID_DISPLAY_QTY": "display_qty must be on the lot grid and below qty, for resting limit orders",
    "INVALID_TRAIL": "trail must be a whole number of ticks or a percentage such as \"1.5%\"",
    "INVALID_TIF": "time in force not allowed for this order",
    "EXPIRE_IN_PAST": "GTD expire_ts is not after the engine clock",
    "QTY_BELOW_FILLED": "modify to a quantity not above what is already filled",
    "NOT_MODIFIABLE": "only resting limit orders can be modified",
    "NO_CHANGE": "modify changes nothing",
    # risk
    "INSUFFICIENT_BALANCE": "available balance does not cover the order",
    "PRICE_OUT_OF_BAND": "price too far from the reference price",
    "MAX_ORDER_NOTIONAL": "order notional above the limit",
    "MAX_OPEN_ORDERS": "the account has the maximum number of open orders",
    "RATE_LIMITED": "too many orders from this account in the window",
    "POSITION_LIMIT": "the order could take the position beyond the limit",
    "SYMBOL_HALTED": "trading in the symbol is halted",
    "ACCOUNT_HALTED": "the account is halted (kill switch or state)",
    "REDUCE_ONLY": "trading state REDUCING accepts only orders that reduce exposure",
    "POST_ONLY_WOULD_TAKE": "a post-only order would take liquidity",
    "WOULD_TRIGGER_IMMEDIATELY": "the stop price is already reached by the last trade price",
}
