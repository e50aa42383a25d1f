-- Nothing to do: the SQLite half of this version brings that engine to the
-- layout PostgreSQL has had since 002.
SELECT 1;
