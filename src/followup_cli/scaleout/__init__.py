"""Beyond one pass (SPEC 10): customer buckets, one after another or as Ray tasks."""
