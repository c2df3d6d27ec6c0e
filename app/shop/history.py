"""Three years of trading at the demo shop: customers, their orders, and support tickets.

Rows come in fixed-size chunks of ids, each from a random generator seeded by the chunk's number,
and a row depends only on the rows before it in its chunk. So a chunk's first k rows are the same
whatever total was asked for: seeding 300 orders then 500 gives the rows that seeding 500 gives.
Rows are plain tuples in `*_COLUMNS` order and counts are integer cents and POSIX seconds until the
last step: a million orders take seconds, not minutes, to generate.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from app.models import OrderStatus, TicketPriority, TicketStatus
from app.shop.clock import DAY, HOUR, OPENING_TS, REFERENCE_TS, moment
from app.shop.products import shelf

Row = tuple[Any, ...]
T = TypeVar("T")

CUSTOMER_CHUNK = 10_000
ORDER_CHUNK = 50_000
MIN_CUSTOMERS = 50
ORDERS_PER_CUSTOMER = 20
ORDERS_PER_TICKET = 50
TICKET_CHUNK = ORDER_CHUNK // ORDERS_PER_TICKET
MAX_ITEMS = 4

CUSTOMER_COLUMNS = ("id", "name", "email", "city", "created_at")
ORDER_COLUMNS = ("id", "customer_id", "status", "total", "shipped_at", "created_at")
ITEM_COLUMNS = ("id", "order_id", "product_id", "quantity", "unit_price")
TICKET_COLUMNS = (
    "id",
    "customer_id",
    "order_id",
    "subject",
    "body",
    "priority",
    "status",
    "created_at",
    "closed_at",
)

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Lucas",
    "Mia", "Mateo", "Isla", "Leo", "Chloe", "Hugo", "Zara", "Arjun", "Freya", "Kenji",
    "Aisha", "Omar", "Ingrid", "Tomas", "Nadia", "Felix", "Yara", "Ethan", "Lena", "Ravi",
    "Grace", "Diego", "Hannah", "Samuel", "Maya", "Jonas", "Chiara", "Kwame", "Elena", "Theo",
    "Fatima", "Luca", "Alice", "Max", "Sofia", "Jack", "Nora", "Adam", "Ines", "Daniel",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Garcia", "Muller", "Rossi", "Nguyen", "Kowalski", "Okafor", "Silva",
    "Martin", "Brown", "Dubois", "Tanaka", "Kim", "Patel", "Johansson", "Novak", "Fischer",
    "Lopez", "Wilson", "Moreau", "Costa", "Haddad", "Walsh", "Berg", "Ivanova", "Santos",
    "Clarke", "Schmidt", "Romano", "Cohen", "Mensah", "Larsen", "Taylor", "Fernandez",
    "Murphy", "Sato", "Weber", "Evans", "Horvat",
)  # fmt: skip
CITIES = (
    "London", "Manchester", "Bristol", "Leeds", "Edinburgh", "Glasgow", "Cardiff", "Belfast",
    "Dublin", "Paris", "Lyon", "Berlin", "Hamburg", "Munich", "Amsterdam", "Rotterdam",
    "Brussels", "Madrid", "Barcelona", "Lisbon", "Porto", "Rome", "Milan", "Vienna",
    "Zurich", "Copenhagen", "Stockholm", "Oslo", "Helsinki", "Warsaw", "Prague", "Budapest",
)  # fmt: skip

# Share of orders with 1, 2, 3, 4 lines (2.5 on average), and how many of a line are bought.
ITEM_COUNT_ODDS = ((0.20, 1), (0.50, 2), (0.80, 3), (1.0, 4))
QUANTITY_ODDS = ((0.76, 1), (0.93, 2), (0.98, 3), (1.0, 5))
DISCOUNT_PERCENTS = (10, 15, 20, 25)
DISCOUNT_SHARE = 0.08

PENDING = OrderStatus.PENDING.value
PAID = OrderStatus.PAID.value
SHIPPED = OrderStatus.SHIPPED.value
DELIVERED = OrderStatus.DELIVERED.value
CANCELLED = OrderStatus.CANCELLED.value
REFUNDED = OrderStatus.REFUNDED.value
WENT_OUT = frozenset({SHIPPED, DELIVERED, REFUNDED})

# (age below, cumulative odds per status): recent orders are still in progress, old ones settled.
STATUS_BY_AGE = (
    (2 * DAY, ((0.45, PENDING), (0.90, PAID), (1.0, CANCELLED))),
    (7 * DAY, ((0.03, PENDING), (0.25, PAID), (0.90, SHIPPED), (1.0, CANCELLED))),
    (21 * DAY, ((0.30, SHIPPED), (0.90, DELIVERED), (0.95, CANCELLED), (1.0, REFUNDED))),
    (10**12, ((0.88, DELIVERED), (0.94, CANCELLED), (1.0, REFUNDED))),
)
OPEN = TicketStatus.OPEN.value
WAITING = TicketStatus.WAITING.value
CLOSED = TicketStatus.CLOSED.value
TICKET_STATUS_BY_AGE = (
    (3 * DAY, ((0.60, OPEN), (0.90, WAITING), (1.0, CLOSED))),
    (14 * DAY, ((0.25, OPEN), (0.55, WAITING), (1.0, CLOSED))),
    (10**12, ((0.02, OPEN), (0.05, WAITING), (1.0, CLOSED))),
)
PRIORITY_ODDS = (
    (0.25, TicketPriority.LOW.value),
    (0.75, TicketPriority.NORMAL.value),
    (0.93, TicketPriority.HIGH.value),
    (1.0, TicketPriority.URGENT.value),
)
ORDER_TICKET_SHARE = 0.7

# What customers write about, by the state of the order they write about ("{id}": the order).
ORDER_QUESTIONS = {
    PENDING: (
        ("Change the delivery address for order #{id}", "I moved; please ship to my new address."),
        ("Payment taken twice for order #{id}", "My card shows two charges for one order."),
    ),
    PAID: (
        ("When will order #{id} ship?", "It has been paid for a few days; is everything in stock?"),
        ("Cancel order #{id}", "Wrong item ordered, please cancel it."),
    ),
    SHIPPED: (
        ("Where is order #{id}?", "The tracking page has not changed for three days."),
        ("Tracking number for order #{id} does not work", "The carrier says it is unknown."),
    ),
    DELIVERED: (
        ("Damaged item in order #{id}", "One item arrived broken; photos attached."),
        ("Wrong item in order #{id}", "I received a different colour from the one I ordered."),
        ("Return request for order #{id}", "It does not fit, how do I send it back?"),
        ("Invoice for order #{id}", "Could you send an invoice with my company's VAT number?"),
    ),
    CANCELLED: (
        ("Refund for cancelled order #{id}", "When will the money be back on my card?"),
    ),
    REFUNDED: (
        ("Refund for order #{id} not received", "It was confirmed but is not on my card."),
    ),
}  # fmt: skip
ACCOUNT_QUESTIONS = (
    ("Cannot sign in to my account", "The password reset email never arrives."),
    ("Update my email address", "Please use my new address for receipts from now on."),
    ("Discount code not accepted", "The code from your newsletter says it has expired."),
    ("Gift card balance", "How much is left on the gift card I received?"),
    ("Delete my account", "Please delete my account and the data you hold about me."),
    ("Question about a product", "Is this available in a larger size, and when?"),
)

_MASK64 = (1 << 64) - 1
_TRADING_SPAN = REFERENCE_TS - OPENING_TS - DAY


def customers_for(orders: int) -> int:
    return max(MIN_CUSTOMERS, orders // ORDERS_PER_CUSTOMER)


def tickets_for(orders: int) -> int:
    return orders // ORDERS_PER_TICKET


def chunk_ids(chunk: int, size: int, last_id: int) -> range:
    return range(chunk * size + 1, min((chunk + 1) * size, last_id) + 1)


def chunk_count(last_id: int, size: int) -> int:
    return -(-last_id // size)


def signed_up_at(customer_id: int) -> int:
    # A pure function of the id (a 64-bit mix), because orders need it for any customer.
    mixed = (customer_id * 0x9E3779B97F4A7C15) & _MASK64
    mixed = ((mixed ^ (mixed >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    mixed ^= mixed >> 31
    return OPENING_TS + mixed % _TRADING_SPAN


def pick(odds: Sequence[tuple[float, T]], roll: float) -> T:
    """The value whose cumulative odds first exceed the roll (a roll is in [0, 1))."""
    for threshold, value in odds:
        if roll < threshold:
            return value
    return odds[-1][1]


def by_age(table: tuple[tuple[int, Any], ...], age: int) -> Any:
    for below, odds in table:
        if age < below:
            return odds
    return table[-1][1]


class Money:
    """Decimal amounts from integer cents, cached: the same few thousand prices recur."""

    def __init__(self) -> None:
        self._cache: dict[int, Decimal] = {}

    def __call__(self, cents: int) -> Decimal:
        amount = self._cache.get(cents)
        if amount is None:
            amount = self._cache[cents] = Decimal(cents).scaleb(-2)
        return amount


def customer_rows(chunk: int, last_id: int) -> list[Row]:
    rng = random.Random(f"customers:{chunk}")
    rows = []
    for customer_id in chunk_ids(chunk, CUSTOMER_CHUNK, last_id):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city = rng.choice(CITIES) if rng.random() >= 0.03 else None
        email = f"{first.lower()}.{last.lower()}.{customer_id}@example.com"
        rows.append(
            (customer_id, f"{first} {last}", email, city, moment(signed_up_at(customer_id)))
        )
    return rows


@dataclass
class OrderBatch:
    """One chunk of orders with their lines, and the tickets written about them."""

    orders: list[Row]
    items: list[Row]
    tickets: list[Row]


def order_batch(chunk: int, last_order_id: int) -> OrderBatch:
    orders, items = order_rows(chunk, last_order_id)
    return OrderBatch(orders, items, ticket_rows(chunk, orders, last_order_id))


def order_rows(chunk: int, last_id: int) -> tuple[list[Row], list[Row]]:
    rng = random.Random(f"orders:{chunk}")
    roll = rng.random
    on_shelf = shelf()
    launch_times, product_ids, prices = (
        on_shelf.launch_times,
        on_shelf.product_ids,
        on_shelf.price_cents,
    )
    money = Money()
    orders: list[Row] = []
    items: list[Row] = []
    for order_id in chunk_ids(chunk, ORDER_CHUNK, last_id):
        # Only customers who exist once this many orders exist: growing N never reassigns one.
        customers = max(MIN_CUSTOMERS, order_id // ORDERS_PER_CUSTOMER)
        customer_id = 1 + int(roll() * customers)
        signed_up = signed_up_at(customer_id)
        placed = signed_up + int(roll() * (REFERENCE_TS - signed_up))
        on_sale = bisect_right(launch_times, placed)
        lines = pick(ITEM_COUNT_ODDS, roll())
        quantities: dict[int, int] = {}
        for _ in range(lines):
            # A product picked twice is one line with a larger quantity.
            index = int(roll() * on_sale)
            quantities[index] = quantities.get(index, 0) + pick(QUANTITY_ODDS, roll())
        total = 0
        # Line ids are fixed by the order id (MAX_ITEMS slots each): growing N never shifts them.
        item_id = (order_id - 1) * MAX_ITEMS
        for index, quantity in quantities.items():
            price = prices[index]
            if roll() < DISCOUNT_SHARE:
                price = price * (100 - DISCOUNT_PERCENTS[int(roll() * 4)]) // 100
            total += price * quantity
            item_id += 1
            items.append((item_id, order_id, product_ids[index], quantity, money(price)))
        age = REFERENCE_TS - placed
        status = pick(by_age(STATUS_BY_AGE, age), roll())
        shipped_at = None
        if status in WENT_OUT:
            shipped_at = moment(placed + int(roll() * min(3 * DAY, age)))
        orders.append((order_id, customer_id, status, money(total), shipped_at, moment(placed)))
    return orders, items


def ticket_rows(chunk: int, orders: list[Row], last_order_id: int) -> list[Row]:
    """One ticket per full block of ORDERS_PER_TICKET orders, about one order of its block."""
    rng = random.Random(f"tickets:{chunk}")
    roll = rng.random
    first_order_id = chunk * ORDER_CHUNK + 1
    rows: list[Row] = []
    for ticket_id in chunk_ids(chunk, TICKET_CHUNK, last_order_id // ORDERS_PER_TICKET):
        block_start = (ticket_id - 1) * ORDERS_PER_TICKET + 1
        order_id, customer_id, status, _total, _shipped, placed_at = orders[
            block_start + int(roll() * ORDERS_PER_TICKET) - first_order_id
        ]
        placed = int(placed_at.timestamp())
        if roll() < ORDER_TICKET_SHARE:
            questions, linked_order = ORDER_QUESTIONS[status], order_id
        else:
            questions, linked_order = ACCOUNT_QUESTIONS, None
        subject, body = questions[int(roll() * len(questions))]
        opened = placed + HOUR + int(roll() * max(min(30 * DAY, REFERENCE_TS - placed - HOUR), 0))
        opened = min(opened, REFERENCE_TS)
        priority = pick(PRIORITY_ODDS, roll())
        ticket_status = pick(by_age(TICKET_STATUS_BY_AGE, REFERENCE_TS - opened), roll())
        # Closed 1 to 72 hours after opening, from the id: no draw, so the other columns
        # stay as they were seeded before tickets had a closing time.
        closed_at = (
            moment(min(opened + (1 + ticket_id % 72) * HOUR, REFERENCE_TS))
            if ticket_status == CLOSED
            else None
        )
        rows.append(
            (
                ticket_id,
                customer_id,
                linked_order,
                subject.format(id=order_id),
                body,
                priority,
                ticket_status,
                moment(opened),
                closed_at,
            )
        )
    return rows
