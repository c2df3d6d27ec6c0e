"""Big exports as jobs (docs/reference.md, "Exports and labels"): a list's Export above
EXPORT_IN_BACKGROUND_ROWS rows is written to a file by the export_list job, in constant memory,
and its requester is sent a signed, expiring download link; purge_exports deletes old files."""
