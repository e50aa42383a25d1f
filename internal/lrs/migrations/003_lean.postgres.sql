-- Queries by activity, the object's or a related one, are driven from
-- lrs_statement_activities (the object is its direct row): the index on the
-- statements' activity column was one more b-tree, on a key that lands at
-- random, written for every statement and read by none.
DROP INDEX lrs_statements_activity;
