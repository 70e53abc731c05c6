"""Community Safety Partnership warehouse: shared mechanics."""
