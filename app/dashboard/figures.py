"""Numbers as cards show them: thousands separated and money with its currency, the reader's
way (app/local_formats.py); changes as signed percentages."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.local_formats import reader


def whole(number: int) -> str:
    return reader().number(number)


def money(amount: Decimal) -> str:
    """In the shop's currency (the DEFAULT_CURRENCY live setting)."""
    return reader().money(amount)


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
