"""Support: open tickets by priority; tickets opened and closed per day over 30 days."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import CurrentUser
from app.clock import Clock
from app.dashboard.charts import Chart, columns_chart
from app.dashboard.figures import whole
from app.dashboard.periods import day_finder, day_key, last_days, off_the_hour, utc_hour_after
from app.dashboard.registry import card
from app.local_formats import reader
from app.models.shop import Ticket, TicketPriority, TicketStatus

CHART_DAYS = 30
OPEN = (TicketStatus.OPEN, TicketStatus.WAITING)
MOST_PRESSING_FIRST = (
    TicketPriority.URGENT,
    TicketPriority.HIGH,
    TicketPriority.NORMAL,
    TicketPriority.LOW,
)


@dataclass(frozen=True)
class OpenTickets:
    by_priority: tuple[tuple[str, int], ...]  # most pressing first, every priority listed

    @property
    def total(self) -> str:
        return whole(sum(n for _, n in self.by_priority))

    @property
    def shown(self) -> tuple[tuple[str, str], ...]:
        return tuple((priority, whole(n)) for priority, n in self.by_priority)


@card(
    "open_tickets",
    title="Open tickets",
    template="dashboard/cards/open_tickets.html",
    permission="ticket:view",
    refresh_on=("model:ticket",),
    place=20,
    reads=(Ticket,),
)
async def open_tickets(session: AsyncSession, clock: Clock, user: CurrentUser) -> OpenTickets:
    # Grouped in the (status, priority) index's order, so it is read from the index alone.
    stmt = (
        select(Ticket.priority, func.count())
        .where(Ticket.status.in_(OPEN))
        .group_by(Ticket.status, Ticket.priority)
    )
    found: dict[TicketPriority, int] = {}
    for priority, n in await session.execute(stmt):
        found[priority] = found.get(priority, 0) + int(n)
    return OpenTickets(tuple((p.value, found.get(p, 0)) for p in MOST_PRESSING_FIRST))


@card(
    "tickets_per_day",
    title=f"Tickets opened and closed per day, last {CHART_DAYS} days",
    template="dashboard/cards/chart.html",
    permission="ticket:view",
    refresh_on=("model:ticket",),
    wide=True,
    place=60,
    reads=(Ticket,),
)
async def tickets_per_day(session: AsyncSession, clock: Clock, user: CurrentUser) -> Chart:
    now, zone = clock.now(), reader().zone
    days = last_days(now, CHART_DAYS, zone)
    shift = off_the_hour(zone, now)
    opened_hour = utc_hour_after(Ticket.created_at, shift)
    closed_hour = utc_hour_after(Ticket.closed_at, shift)
    opened = (
        select(literal("opened"), opened_hour, func.count())
        .where(Ticket.created_at >= days[0], Ticket.created_at < now)
        .group_by(opened_hour)
    )
    closed = (
        select(literal("closed"), closed_hour, func.count())
        .where(Ticket.closed_at >= days[0], Ticket.closed_at < now)
        .group_by(closed_hour)
    )
    day_of = day_finder(days, shift)
    found: Counter[tuple[str, int]] = Counter()
    for what, key, n in await session.execute(union_all(opened, closed)):
        found[what, day_of(key)] += int(n)
    series = ("opened", "closed")
    points = [(day_key(d, zone), [found[s, i] for s in series]) for i, d in enumerate(days)]
    return columns_chart("Tickets per day", points, series)
