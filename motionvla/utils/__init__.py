"""Small shared helpers (atomic writes, machine description)."""
