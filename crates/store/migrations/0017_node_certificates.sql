-- The certificates a node serves HTTPS with, as PEM, so that another node passing a request on
-- to it trusts them: a node's self-signed certificate is issued by a CA of its own data
-- directory, which no other node would trust otherwise. Public material only.
-- Paired with ../{{the other dialect}}/0017_node_certificates.sql; identical.

ALTER TABLE nodes ADD COLUMN certificates TEXT;
