"""Services: one per aggregate. Each method runs inside the caller's transaction."""
