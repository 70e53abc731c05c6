"""Drop folder -> raw, one file at a time: landing (copy, hash, manifest), reading, the file gate (SQL on DuckDB),
pseudonyms and linkage evidence, the COPY into raw, and the API pullers (Sentinel). `feed_run` is the entry point
the feed DAGs call. Imports `catalogue` and `db`."""
