"""HTTP edge: blueprints, schemas and problem documents."""
