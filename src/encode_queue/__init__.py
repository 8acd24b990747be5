"""The encode queue: its rules (policy), its rows' API shape (rows) and its SQL (store)."""
