"""Who trades on the simulated venue, and how big they are.

Sizes are in dollars and distances in basis points so one roster fits every listed symbol;
``SymbolProfile`` supplies each symbol's starting price and the dollar value of its quote
asset. Each entry is (account, agent class, params): an account trades every simulated symbol
with the same behaviour, and its deposits are summed over them.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.simmarket.agent import Agent
from core.simmarket.fair_value import FairValueParams
from core.simmarket.makers import DepthParams, DepthProvider, MakerParams, MarketMaker
from core.simmarket.takers import MomentumParams, MomentumTrader, NoiseParams, NoiseTaker, WhaleParams, Whale


@dataclass(frozen=True)
class SymbolProfile:
    start: float  # starting fair value, quote per base
    usd_per_quote: float = 1.0  # dollar value of one unit of the quote asset
    vol: float = 0.45  # annualised

    def fair_params(self) -> FairValueParams:
        return FairValueParams(start=self.start, vol=self.vol, impact_bps_per_unit=1.5)


#: Net taker flow worth this many dollars moves fair value by ``impact_bps_per_unit`` bps.
IMPACT_UNIT_USD = 100_000.0

PROFILES: dict[str, SymbolProfile] = {
    "BTC/USDT": SymbolProfile(30_000.0, 1.0, 0.45),
    "ETH/USDT": SymbolProfile(2_000.0, 1.0, 0.55),
    "SOL/USDT": SymbolProfile(25.0, 1.0, 0.8),
    "ETH/BTC": SymbolProfile(2_000.0 / 30_000.0, 30_000.0, 0.35),
}

#: The makers differ in how tight, how deep and how big they quote: together they give a
#: staircase of depth like a real book (thin inside, thicker further out).
ROSTER: tuple[tuple[str, type[Agent], object], ...] = (
    ("depth1", DepthProvider, DepthParams(inner_bps=6.0, outer_bps=40.0, grid_bps=1.0, size_usd=20_000.0, size_growth_per_bps=0.15)),
    ("mm1", MarketMaker, MakerParams(half_spread_bps=0.1, spacing_bps=0.4, levels=12, size_usd=2_500.0, size_growth=0.3, max_position_usd=150_000.0)),
    ("mm2", MarketMaker, MakerParams(half_spread_bps=0.3, spacing_bps=0.7, levels=12, size_usd=5_000.0, size_growth=0.35, max_position_usd=300_000.0)),
    ("mm3", MarketMaker, MakerParams(half_spread_bps=0.6, spacing_bps=1.1, levels=10, size_usd=10_000.0, size_growth=0.4, max_position_usd=500_000.0)),
    ("mm4", MarketMaker, MakerParams(half_spread_bps=1.0, spacing_bps=1.7, levels=10, size_usd=20_000.0, size_growth=0.5, max_position_usd=800_000.0)),
    ("whale1", Whale, WhaleParams()),
    ("mom1", MomentumTrader, MomentumParams(fast_s=3.0, slow_s=20.0, threshold_bps=1.0, cooldown_s=3.0, size_usd=6_000.0)),
    ("mom2", MomentumTrader, MomentumParams(fast_s=8.0, slow_s=60.0, threshold_bps=2.0, cooldown_s=8.0, size_usd=15_000.0, max_position_usd=120_000.0)),
    ("noise1", NoiseTaker, NoiseParams(rate_per_s=5.0, median_usd=600.0)),
    ("noise2", NoiseTaker, NoiseParams(rate_per_s=3.0, median_usd=2_000.0, sigma=1.2)),
    ("noise3", NoiseTaker, NoiseParams(rate_per_s=2.0, median_usd=300.0, limit_share=0.6)),
)
