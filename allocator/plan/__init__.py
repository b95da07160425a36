"""A plan as tables, its independent re-check, and its cut-only repair."""
