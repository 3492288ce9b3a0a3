-- Runs once, when the data volume is first initialised.
-- pg_stat_statements lets `make bench-api` count SQL queries per request.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
