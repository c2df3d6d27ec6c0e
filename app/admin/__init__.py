"""The admin site: one view per mapped model plus the custom pages."""
