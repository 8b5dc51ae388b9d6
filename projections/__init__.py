"""Read models folded from the event sequence (see the projection issues)."""
