"""Request schemas, one module per blueprint; shared fields and bases in common."""
