"""The simulated market: seeded agents (market makers, deep passive liquidity, noise and
momentum takers, a whale) trading on the engine around a stochastic fair value, and the worker
thread that runs it in the background for the UI.

Never imports tui, feeds, strategies, textual or rich (``core`` rule).
"""

from core.simmarket.fair_value import FairValueParams, FairValueProcess
from core.simmarket.market import SimMarket
from core.simmarket.worker import SimMarketWorker, WorkerStopped

__all__ = ["FairValueParams", "FairValueProcess", "SimMarket", "SimMarketWorker", "WorkerStopped"]
