"""One script per figure; each regenerates its plot (PNG, PDF) and the data beside it (CSV)."""
