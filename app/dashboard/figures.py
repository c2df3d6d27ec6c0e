"""Numbers as cards show them: thousands separated, changes as signed percentages."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


def whole(number: int) -> str:
    return f"{number:,}"


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


@dataclass(frozen=True)
class Change:
    """A figure against the same figure in the period before."""

    now: Decimal
    before: Decimal

    @property
    def direction(self) -> str:
        return "up" if self.now > self.before else "down" if self.now < self.before else "flat"

    @property
    def text(self) -> str:
        if self.before == 0:
            return "±0%" if self.now == 0 else "new"  # no percentage of nothing
        percent = round((self.now - self.before) / self.before * 100)
        return "±0%" if percent == 0 else f"{percent:+,}%"  # never "-0%"
