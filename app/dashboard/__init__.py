"""The dashboard at /admin/: cards, each one declared function (a query) and one template.

A team adds a card with a module in `app/dashboard/cards/` (docs/reference.md, "Dashboard cards").
"""

from app.dashboard.registry import Card, card, cards_for, known_card

__all__ = ["Card", "card", "cards_for", "known_card"]
