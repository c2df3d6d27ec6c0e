"""Big imports: a list's import file checked in a dry run, then saved all-or-nothing, each
a run of the `import_rows` job (docs/reference.md, "Imports")."""
