"""Recording admin, sign-in, settings and job changes with field-level diffs."""
