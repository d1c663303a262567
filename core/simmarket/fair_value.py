"""The hidden "true" price every agent quotes and trades around.

A venue's prices only look real when the thing driving them has the features of real returns:
quiet stretches, bursts of volatility that fade, and rare jumps. So the fair value is geometric
Brownian motion whose volatility is multiplied by a decaying burst factor (bursts arrive as a
Poisson process), plus compound-Poisson jumps in log price, plus a small permanent impact from
the net taker flow the agents report (so a whale's sweep moves the price and stays moved).

It works in floats: it is a model, not an amount. Agents turn it into ticks on the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SECONDS_PER_YEAR = 365.0 * 86400.0


@dataclass(frozen=True)
class FairValueParams:
    """Shape of the fair-value process; volatilities are annualised, rates per hour."""

    start: float
    vol: float = 0.45  # base annualised volatility (BTC-like)
    burst_rate_per_hour: float = 20.0  # volatility bursts arriving per hour
    burst_size: float = 2.5  # mean extra volatility multiple a burst adds
    burst_half_life_s: float = 30.0  # how fast a burst fades
    jump_rate_per_hour: float = 4.0  # price jumps per hour
    jump_bps: float = 12.0  # standard deviation of a jump, basis points
    impact_bps_per_unit: float = 0.0  # permanent impact per unit of net taker flow (see step)
    max_step_bps: float = 200.0  # cap on one step's move, so a bad draw cannot wreck the book


class FairValueProcess:
    """Seeded, step-by-step fair value: ``step()`` advances ``dt`` seconds and returns the price."""

    def __init__(self, params: FairValueParams, dt: float, rng: np.random.Generator) -> None:
        if params.start <= 0 or dt <= 0:
            raise ValueError("fair value needs a positive start price and step")
        self.params = params
        self.dt = dt
        self.rng = rng
        self.log_price = math.log(params.start)
        self.burst = 0.0  # extra volatility multiple, decays towards 0
        self._sigma_step = params.vol * math.sqrt(dt / SECONDS_PER_YEAR)
        self._burst_decay = 0.5 ** (dt / params.burst_half_life_s)
        self._p_burst = 1.0 - math.exp(-params.burst_rate_per_hour * dt / 3600.0)
        self._p_jump = 1.0 - math.exp(-params.jump_rate_per_hour * dt / 3600.0)
        self.jumps = 0
        self.bursts = 0

    @property
    def price(self) -> float:
        return math.exp(self.log_price)

    @property
    def vol_multiple(self) -> float:
        """Current volatility relative to the base (1.0 when calm); makers widen with it."""
        return 1.0 + self.burst

    def step(self, flow: float = 0.0) -> float:
        """Advance one step. ``flow`` is the net taker flow (buys positive) since the last step,
        in whatever unit ``impact_bps_per_unit`` is expressed in."""
        p, rng = self.params, self.rng
        # Draw the same number of variates every step, whether or not an event fires, so a
        # parameter change never shifts the random stream of later steps.
        u_burst, u_jump = rng.random(2)
        z, z_jump, z_burst = rng.standard_normal(3)
        self.burst *= self._burst_decay
        if u_burst < self._p_burst:
            self.burst += p.burst_size * math.exp(0.5 * z_burst - 0.125)  # lognormal, mean burst_size
            self.bursts += 1
        sigma = self._sigma_step * (1.0 + self.burst)
        move = -0.5 * sigma * sigma + sigma * z
        if u_jump < self._p_jump:
            move += p.jump_bps * 1e-4 * z_jump
            self.jumps += 1
        move += p.impact_bps_per_unit * 1e-4 * flow
        cap = p.max_step_bps * 1e-4
        self.log_price += min(cap, max(-cap, move))
        return self.price
