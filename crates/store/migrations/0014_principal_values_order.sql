-- A principal's emails, entitlements and roles in the order they are shown (by attribute, the
-- primary one first, then by value), straight from an index: without it every principal read
-- sorted its few values in a temporary b-tree, a third of a point lookup's time in SQLite.
-- The index covers the read, so the table itself is not visited.
-- Paired with ../{{the other dialect}}/0014_principal_values_order.sql.

CREATE INDEX principal_values_shown ON principal_values (principal_id, attr, is_primary DESC, value, value_type);
