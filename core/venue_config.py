"""Turn user settings (``core.config.Settings``) into the engine's ``EngineConfig``.

Settings speak in decimal strings of quote and base; the engine speaks in integer units of
each instrument's grid. This is the one place that converts between the two.
"""

from __future__ import annotations

from decimal import Decimal

from core.config import Settings
from core.engine import EngineConfig
from core.fees import FeeSchedule
from core.instruments import default_instruments
from core.risk import RiskLimits

_MS = 1_000_000


def engine_config(settings: Settings, no_risk: bool | None = None) -> EngineConfig:
    """The venue as configured: fee tiers, venue-wide limits and per-symbol position limits."""
    instruments = default_instruments()
    risk = settings.risk
    limits = RiskLimits(
        band_bps=int(risk.band_pct * 100) if risk.band_pct is not None else None,
        max_order_notional=int(risk.max_order_notional * 10**8) if risk.max_order_notional is not None else None,
        max_open_orders=risk.max_open_orders,
        rate_limit_orders=risk.rate_limit_orders,
        rate_limit_window_ns=(risk.rate_limit_window_ms or 1000) * _MS,
    )
    cfg = EngineConfig(
        no_risk=settings.engine.no_risk if no_risk is None else no_risk,
        instruments=instruments,
        fee_tiers=FeeSchedule.from_table(settings.fees.as_table()),
        limits=limits,
    )
    if risk.max_position is not None:
        cfg.symbol_limits = {
            sym: RiskLimits(max_position=int(Decimal(risk.max_position) / inst.lot_size)) for sym, inst in instruments.items()
        }
    return cfg
