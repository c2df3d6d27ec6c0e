"""The demo shop: seeding and its own jobs."""
