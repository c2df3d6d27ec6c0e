"""The demo shop's products: a fixed set of products and tags, identical on every database."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from app.models import Category
from app.shop.clock import DAY, HOUR, OPENING_TS, REFERENCE_TS, day_of, moment

PRODUCT_COUNT = 500

TAG_NAMES = (
    "bestseller",
    "new arrival",
    "on sale",
    "staff pick",
    "gift idea",
    "limited edition",
    "clearance",
    "back in stock",
    "premium",
    "budget pick",
    "bundle deal",
    "eco-friendly",
    "vegan",
    "organic",
    "kids",
    "outdoor",
    "handmade",
    "wireless",
    "refurbished",
    "seasonal",
)
TAG_IDS = {name: number for number, name in enumerate(TAG_NAMES, start=1)}

# Tags any product may carry; the rest only fit some departments (see Department.tags).
GENERAL_TAGS = (
    "bestseller",
    "on sale",
    "staff pick",
    "gift idea",
    "limited edition",
    "clearance",
    "premium",
    "budget pick",
    "bundle deal",
    "eco-friendly",
)
NEW_ARRIVAL_DAYS = 120

COLOURS = ("black", "white", "grey", "navy", "red", "green", "blue", "sand", "olive", "pink")
MATERIALS = ("oak", "steel", "bamboo", "ceramic", "glass", "linen", "recycled plastic", "wool")
FABRICS = ("cotton", "organic cotton", "merino wool", "linen", "polyester", "denim", "fleece")
ORIGINS = ("Italy", "Colombia", "Kenya", "Spain", "India", "Vietnam", "Peru", "France", "Greece")
AUTHORS = (
    "Amara Okafor",
    "Lena Fischer",
    "Tomás Rivera",
    "Hiro Tanaka",
    "Claire Dubois",
    "Sam Whitfield",
    "Priya Raman",
    "Jonas Berg",
    "Maya Cohen",
    "Ruth Alder",
)


def electronics_specs(rng: random.Random) -> dict[str, Any]:
    return {
        "colour": rng.choice(COLOURS[:4]),
        "weight_g": rng.randrange(40, 2400, 10),
        "warranty_months": rng.choice((12, 24, 36)),
        "wireless": rng.random() < 0.6,
    }


def book_specs(rng: random.Random) -> dict[str, Any]:
    return {
        "author": rng.choice(AUTHORS),
        "pages": rng.randrange(96, 720, 8),
        "format": rng.choice(("paperback", "hardcover", "ebook")),
        "language": rng.choice(("English", "English", "English", "French", "German", "Spanish")),
        "isbn": f"978-{rng.randrange(10**9, 10**10)}",
    }


def home_specs(rng: random.Random) -> dict[str, Any]:
    return {
        "material": rng.choice(MATERIALS),
        "colour": rng.choice(COLOURS),
        "dimensions_cm": [rng.randrange(10, 120), rng.randrange(10, 80), rng.randrange(5, 90)],
    }


def garden_specs(rng: random.Random) -> dict[str, Any]:
    return {
        "material": rng.choice(("steel", "cedar", "recycled plastic", "terracotta", "aluminium")),
        "weight_g": rng.randrange(200, 15000, 50),
        "weatherproof": rng.random() < 0.7,
    }


def toy_specs(rng: random.Random) -> dict[str, Any]:
    return {
        "min_age_years": rng.choice((0, 1, 3, 5, 8, 12)),
        "pieces": rng.choice((1, 1, 12, 48, 120, 500, 1000)),
        "batteries_required": rng.random() < 0.25,
    }


def clothing_specs(rng: random.Random) -> dict[str, Any]:
    sizes = ("XS", "S", "M", "L", "XL", "XXL")
    first = rng.randrange(0, 3)
    return {
        "sizes": list(sizes[first : first + rng.randrange(3, 5)]),
        "fabric": rng.choice(FABRICS),
        "colour": rng.choice(COLOURS),
        "care": rng.choice(("machine wash 30°C", "machine wash 40°C", "hand wash", "dry clean")),
    }


def sports_specs(rng: random.Random) -> dict[str, Any]:
    return {
        "colour": rng.choice(COLOURS),
        "weight_g": rng.randrange(50, 9000, 10),
        "level": rng.choice(("beginner", "intermediate", "advanced")),
    }


def grocery_specs(rng: random.Random) -> dict[str, Any]:
    return {
        "net_weight_g": rng.choice((100, 250, 500, 750, 1000)),
        "origin": rng.choice(ORIGINS),
        "organic": rng.random() < 0.4,
        "shelf_life_days": rng.choice((30, 90, 180, 365, 730)),
    }


@dataclass(frozen=True)
class Department:
    category: Category
    sku_prefix: str
    brands: tuple[str, ...]
    styles: tuple[str, ...]
    goods: tuple[str, ...]
    price_cents: tuple[int, int]
    pitch: str
    tags: tuple[str, ...]
    specs: Callable[[random.Random], dict[str, Any]]
    title: str = "{brand} {style} {good}"


DEPARTMENTS = (
    Department(
        Category.ELECTRONICS,
        "ELE",
        ("Voltra", "Nimbus", "Pixelon", "Arcwave", "Korvo"),
        ("Wireless", "Compact", "Pro", "Smart", "Ultra", "Mini", "Studio", "Travel"),
        ("Headphones", "Speaker", "Charger", "Keyboard", "Mouse", "Webcam", "Power Bank",
         "USB-C Hub", "Smartwatch", "Monitor", "Earbuds", "Router"),
        (999, 89999),
        "built for everyday reliability",
        ("wireless", "refurbished"),
        electronics_specs,
    ),
    Department(
        Category.BOOKS,
        "BOO",
        ("Harbour Press", "Lantern Books", "Northfield", "Quill & Co"),
        ("The Silent", "The Last", "A Year of", "The Hidden", "Notes on", "The Little",
         "Beyond the", "The Art of"),
        ("Harbour", "Orchard", "Garden", "Cooking", "Mountains", "Letters", "Stars", "Winter",
         "Cities", "Habits", "Rivers", "Bread"),
        (699, 4999),
        "a reader favourite",
        ("kids",),
        book_specs,
        title="{style} {good}",
    ),
    Department(
        Category.HOME,
        "HOM",
        ("Hearth", "Norrland", "Casa Vela", "Linden"),
        ("Classic", "Nordic", "Rustic", "Modern", "Cosy", "Stackable", "Minimal"),
        ("Mug Set", "Table Lamp", "Throw Blanket", "Cutting Board", "Vase", "Cushion",
         "Bookshelf", "Storage Box", "Wall Clock", "Kettle", "Frying Pan"),
        (499, 39999),
        "made to last in a busy home",
        ("handmade",),
        home_specs,
    ),
    Department(
        Category.GARDEN,
        "GAR",
        ("Greenway", "Terrakin", "Bloomfield", "Fernhill"),
        ("Heavy-Duty", "Foldable", "Solar", "Raised", "Ergonomic", "Self-Watering"),
        ("Planter", "Hose Reel", "Pruning Shears", "Bird Feeder", "Lantern", "Garden Bench",
         "Compost Bin", "Seed Kit", "Trowel", "Watering Can"),
        (399, 49999),
        "ready for every season outdoors",
        ("outdoor", "organic", "seasonal"),
        garden_specs,
    ),
    Department(
        Category.TOYS,
        "TOY",
        ("Playloft", "Tinkerbox", "Wobble", "Kiddo"),
        ("Wooden", "Magnetic", "Giant", "Musical", "Classic", "Glow-in-the-Dark"),
        ("Building Blocks", "Puzzle", "Train Set", "Plush Bear", "Board Game", "Kite",
         "Marble Run", "Doll House", "Science Kit", "Race Car"),
        (599, 14999),
        "hours of play, safety tested",
        ("kids", "handmade"),
        toy_specs,
    ),
    Department(
        Category.CLOTHING,
        "CLO",
        ("Fjord", "Urbanite", "Saltmarsh", "Kestrel"),
        ("Slim", "Relaxed", "Organic", "Waterproof", "Lightweight", "Heritage", "Everyday"),
        ("T-Shirt", "Hoodie", "Rain Jacket", "Chinos", "Wool Socks", "Beanie", "Denim Jacket",
         "Scarf", "Polo Shirt", "Trainers"),
        (999, 24999),
        "comfortable from morning to night",
        ("vegan", "kids", "handmade", "seasonal"),
        clothing_specs,
    ),
    Department(
        Category.SPORTS,
        "SPO",
        ("Peakform", "Stridex", "Aqualine", "Summit"),
        ("Pro", "Trail", "Adjustable", "Lightweight", "Competition", "Training"),
        ("Yoga Mat", "Dumbbell Set", "Running Belt", "Water Bottle", "Tennis Racket",
         "Cycling Gloves", "Jump Rope", "Backpack", "Football", "Resistance Bands"),
        (499, 29999),
        "tested by athletes",
        ("outdoor",),
        sports_specs,
    ),
    Department(
        Category.GROCERY,
        "GRO",
        ("Hillside", "Old Mill", "Golden Fields", "Sea & Salt"),
        ("Organic", "Single-Origin", "Stone-Ground", "Cold-Pressed", "Wildflower", "Smoked"),
        ("Coffee Beans", "Olive Oil", "Honey", "Green Tea", "Pasta", "Dark Chocolate",
         "Granola", "Sea Salt", "Peanut Butter", "Oat Flour", "Hot Sauce"),
        (249, 3999),
        "sourced from small producers",
        ("vegan", "organic", "seasonal"),
        grocery_specs,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class DemoProduct:
    id: int
    sku: str
    name: str
    category: Category
    price_cents: int
    stock: int
    available_ts: int
    description: str
    specs: dict[str, Any]
    created_ts: int
    tag_ids: tuple[int, ...]

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "price": Decimal(self.price_cents).scaleb(-2),
            "stock": self.stock,
            "available_from": day_of(self.available_ts),
            "description": self.description,
            "specs": self.specs,
            "created_at": moment(self.created_ts),
        }


def shelf_price(rng: random.Random, low: int, high: int) -> int:
    # Log-uniform, ending in .99 or .49 like real price tags.
    cents = int(low * (high / low) ** rng.random())
    return max(cents // 100 * 100 - 1, 99) if rng.random() < 0.8 else cents // 100 * 100 + 49


def launch_time(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.05:  # coming soon: not on sale yet at the reference day
        return REFERENCE_TS + rng.randrange(1, 90) * DAY
    if roll < 0.40:  # launched while the shop was trading
        return OPENING_TS + rng.randrange(0, (REFERENCE_TS - OPENING_TS) // DAY) * DAY
    return OPENING_TS - rng.randrange(1, 5 * 365) * DAY


def stock_level(rng: random.Random, available_ts: int) -> int:
    roll = rng.random()
    if available_ts > REFERENCE_TS or roll < 0.06:
        return 0
    if roll < 0.18:
        return rng.randrange(1, 10)
    return rng.randrange(10, 400)


def product_tags(
    rng: random.Random, department: Department, available_ts: int, stock: int
) -> tuple[int, ...]:
    fitting = list(GENERAL_TAGS + department.tags)
    if stock > 0:
        fitting.append("back in stock")
    names = set(rng.sample(fitting, rng.choices((0, 1, 2, 3, 4), (10, 35, 35, 15, 5))[0]))
    if available_ts >= REFERENCE_TS - NEW_ARRIVAL_DAYS * DAY:
        names.add("new arrival")
    return tuple(sorted(TAG_IDS[name] for name in names))


def product_name(
    rng: random.Random, department: Department, used_names: set[str]
) -> tuple[str, str]:
    # Names stay unique so lists and selects tell products apart; a rare clash gets an edition.
    for _attempt in range(20):
        brand = rng.choice(department.brands)
        style, good = rng.choice(department.styles), rng.choice(department.goods)
        name = department.title.format(brand=brand, style=style, good=good)
        if name not in used_names:
            break
    while name in used_names:
        name = f"{name} II"
    used_names.add(name)
    return brand, name


def build_product(rng: random.Random, number: int, used_names: set[str]) -> DemoProduct:
    department = DEPARTMENTS[(number - 1) % len(DEPARTMENTS)]
    brand, name = product_name(rng, department, used_names)
    available_ts = launch_time(rng)
    stock = stock_level(rng, available_ts)
    created_ts = min(available_ts, REFERENCE_TS) - rng.randrange(7, 60) * DAY
    created_ts += rng.randrange(8, 18) * HOUR
    return DemoProduct(
        id=number,
        sku=f"{department.sku_prefix}-{number:05d}",
        name=name,
        category=department.category,
        price_cents=shelf_price(rng, *department.price_cents),
        stock=stock,
        available_ts=available_ts,
        description=f"{name} by {brand}: {department.pitch}.",
        specs=department.specs(rng),
        created_ts=created_ts,
        tag_ids=product_tags(rng, department, available_ts, stock),
    )


@cache
def products() -> tuple[DemoProduct, ...]:
    # The seed is a data value, kept as it was: another string would change every demo product.
    rng = random.Random("catalogue")
    used_names: set[str] = set()
    return tuple(build_product(rng, n, used_names) for n in range(1, PRODUCT_COUNT + 1))


def tag_rows() -> list[dict[str, Any]]:
    return [{"id": number, "name": name} for name, number in TAG_IDS.items()]


def product_tag_pairs() -> list[tuple[int, int]]:
    return [(p.id, tag_id) for p in products() for tag_id in p.tag_ids]


@dataclass(frozen=True)
class Shelf:
    """Products in launch order, so the ones on sale at a moment are a prefix (bisect)."""

    launch_times: list[int]
    product_ids: list[int]
    price_cents: list[int]


@cache
def shelf() -> Shelf:
    ordered = sorted(products(), key=lambda p: (p.available_ts, p.id))
    return Shelf(
        launch_times=[p.available_ts for p in ordered],
        product_ids=[p.id for p in ordered],
        price_cents=[p.price_cents for p in ordered],
    )
