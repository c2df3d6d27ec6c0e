"""Endpoints outside the admin."""
